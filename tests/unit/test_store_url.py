"""What the gateway says about its store URL: never the password, wherever the URL holds it."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import parse_url

from gateway.store.opening import store_description


def test_a_password_given_as_a_query_parameter_is_not_shown() -> None:
    # redis-py takes `?password=` (and `?username=`) as the URL's credentials: the gateway
    # logs in with it, and `gateway serve` prints the description on stderr at start.
    url = "redis://redis.internal:6379/0?password=s3cret-pw"
    assert parse_url(url)["password"] == "s3cret-pw"
    assert "s3cret-pw" not in store_description(url)


def test_a_password_in_the_query_of_a_tls_cluster_url_is_not_shown() -> None:
    url = "rediss+cluster://node-1.internal:6380?username=gw&password=s3cret-pw"
    assert "s3cret-pw" not in store_description(url)


def test_a_url_with_a_port_that_is_no_number_is_refused_without_its_password() -> None:
    url = "redis://gw:s3cret-pw@redis.internal:63 79/0"
    with pytest.raises(ValueError) as refused:
        store_description(url)
    assert "s3cret-pw" not in str(refused.value)

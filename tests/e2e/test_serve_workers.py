"""`gateway serve --workers 2` spreads connections over its workers: a client that opens its
pool of keep-alive connections at once (a CRM's HTTP client, a load balancer) is served by
both, not by whichever worker woke first (on one shared listening socket, 32 connections of
the benchmark's load all went to one worker, and two workers served what one does)."""

from __future__ import annotations

import http.client
import json
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.sockets import SPREAD_BY_KERNEL
from tests.e2e import payloads
from tests.e2e.gateways import instance_of, start_workers, token_for
from tests.redis_server import RedisProcess

CONNECTIONS = 24
WARM_UP = 40  # at most: single connections until both workers are up and have served one
# Each connection goes to either worker by a hash of its address: fewer than this many on
# one of them happens about 3 times in a million runs.
AT_LEAST = 2

pytestmark = pytest.mark.skipif(
    not SPREAD_BY_KERNEL,
    reason=f"the kernel spreads connections over workers on Linux only, not {sys.platform}",
)


@pytest.mark.redis
def test_connections_opened_at_once_are_served_by_every_worker(
    gateway_env: dict[str, str], prod_config_dir: Path, private_redis: RedisProcess
) -> None:
    token = token_for("crm-demo", prod_config_dir)
    admin = {"Authorization": f"Bearer {token_for('ops-admin', prod_config_dir)}"}
    with start_workers(gateway_env, prod_config_dir, private_redis.url) as (url, _):
        address = urlsplit(url)

        def connection() -> http.client.HTTPConnection:
            return http.client.HTTPConnection(address.hostname, address.port, timeout=15)

        def served_by(connection: http.client.HTTPConnection) -> str:
            connection.request(
                "POST",
                "/v1/customers",
                body=json.dumps(payloads.customer("DE01")),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            body = response.read()
            assert response.status == 201, body
            connection.close()
            return instance_of(url, admin, response.headers["x-correlation-id"])

        # The gateway answers once one worker is ready; a worker listens once it has started.
        up: set[str] = set()
        for _ in range(WARM_UP):
            up.add(served_by(connection()))
            if len(up) == 2:
                break
        assert len(up) == 2, f"one worker served {WARM_UP} connections in a row: {up}"
        pool = [connection() for _ in range(CONNECTIONS)]
        for opened in pool:  # the whole pool first, as a client's burst opens it
            opened.connect()
        served = Counter(served_by(opened) for opened in pool)
    assert len(served) == 2 and min(served.values()) >= AT_LEAST, served

"""`gateway serve --workers 2`: the workers write their metrics to one directory and /metrics
adds them up, so every scrape tells one truth whichever worker answers it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e import payloads
from tests.e2e.gateways import instance_of, start_workers, token_for
from tests.redis_server import RedisProcess
from tests.servers import fresh_connections_client

CREATES = 24  # a batch
MAX_BATCHES = 5
SCRAPES = 6


def created(exposition: str) -> float:
    """Customer creates answered 201, over every backend label."""
    pattern = (
        r'gateway_request_duration_seconds_count\{backend="[^"]*",'
        r'operation="customers.create",status="201"\} ([0-9.e+]+)'
    )
    return sum(float(n) for n in re.findall(pattern, exposition))


@pytest.mark.redis
def test_every_scrape_of_several_workers_counts_every_request(
    gateway_env: dict[str, str], prod_config_dir: Path, private_redis: RedisProcess
) -> None:
    token = token_for("crm-demo", prod_config_dir)
    admin_token = token_for("ops-admin", prod_config_dir)
    with start_workers(gateway_env, prod_config_dir, private_redis.url) as (url, _):
        admin = {"Authorization": f"Bearer {admin_token}"}
        instances: set[str] = set()
        creates = 0
        # A connection each: the kernel hands them to either worker, though on a busy machine
        # it may give one worker a whole batch; another batch then, up to a bound.
        with fresh_connections_client(15) as client:
            while len(instances) < 2 and creates < CREATES * MAX_BATCHES:
                ids = []
                for _ in range(CREATES):
                    response = client.post(
                        f"{url}/v1/customers",
                        json=payloads.customer("DE01"),
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert response.status_code == 201, response.text
                    creates += 1
                    ids.append(response.headers["x-correlation-id"])
                instances.update(instance_of(url, admin, cid, client) for cid in ids)
            assert len(instances) == 2, "both workers must have served creates for this to show"
            counts = {created(client.get(f"{url}/metrics").text) for _ in range(SCRAPES)}
    assert counts == {float(creates)}

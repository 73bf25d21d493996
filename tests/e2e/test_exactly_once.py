"""Exactly-once submissions end to end, against the real simulators and on each store: a CRM
that retries, an ERP that commits and then times out, duplicates split across gateways, and a
gateway killed mid-request never make a second order."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.configs import ERP_TIMEOUT_S, IDEMPOTENCY_GRACE_S, IDEMPOTENCY_LEASE_S
from tests.e2e import payloads
from tests.e2e.checks import create_customer, retry_while_in_progress, stats
from tests.e2e.gateways import client_for, start_gateway

ERP_OF = {"US01": "cloud", "DE01": "legacy"}


SHARED_STORES = {"redis": "redis_gateways", "cluster": "cluster_gateways"}
# The request timeout of a gateway killed mid-request: its key's lease runs to the request's
# deadline and the commit window after it, which a test waits out (15 s by default). Long enough
# for the order to reach the ERP before it.
KILLED_GATEWAY_TIMEOUT_S = 3.0


@pytest.fixture(params=["memory", *SHARED_STORES])
def gateway(request: pytest.FixtureRequest, gateway_url: str) -> str:
    """The memory-store gateway, or the first of the two on one Redis, or on a Redis Cluster."""
    if request.param == "memory":
        return gateway_url
    pair: tuple[str, str] = request.getfixturevalue(SHARED_STORES[request.param])
    return pair[0]


@pytest.fixture
def api(gateway: str, token: str) -> Iterator[httpx.Client]:
    with client_for(gateway, token) as client:
        yield client


def _concurrent_posts(
    urls: list[str], token: str, body: dict[str, Any], key: str
) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        limits = httpx.Limits(max_connections=len(urls))
        async with httpx.AsyncClient(headers=headers, timeout=20, limits=limits) as client:
            return list(
                await asyncio.gather(
                    *(client.post(f"{u}/v1/sales-orders", json=body) for u in urls)
                )
            )

    return asyncio.run(run())


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_50_concurrent_identical_creates_make_exactly_one_order(
    api: httpx.Client,
    gateway: str,
    token: str,
    sims: dict[str, httpx.Client],
    legal_entity: str,
) -> None:
    sim = sims[ERP_OF[legal_entity]]
    customer = create_customer(api, legal_entity)
    before = stats(sim)["sales_orders"]
    answers = _concurrent_posts(
        [gateway] * 50,
        token,
        payloads.order(legal_entity, customer["id"]),
        payloads.new_key()["Idempotency-Key"],
    )
    unexpected = [a.text for a in answers if a.status_code not in (201, 409)]
    assert stats(sim)["sales_orders"] == before + 1, unexpected[:3]
    assert not unexpected, unexpected[:3]
    created = [a for a in answers if a.status_code == 201]
    assert len({a.json()["id"] for a in created}) == 1
    assert len([a for a in created if "idempotent-replayed" not in a.headers]) == 1


def test_the_same_key_with_another_body_is_422(api: httpx.Client) -> None:
    customer = create_customer(api, "US01")
    key = payloads.new_key()
    body = payloads.order("US01", customer["id"])
    assert api.post("/v1/sales-orders", json=body, headers=key).status_code == 201
    changed = {**body, "lines": [{"sku": "WIDGET-1", "quantity": 9, "unit_price": "19.99"}]}
    reused = api.post("/v1/sales-orders", json=changed, headers=key)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_a_retry_after_commit_then_timeout_returns_the_one_order(
    api: httpx.Client, sims: dict[str, httpx.Client], legal_entity: str
) -> None:
    sim = sims[ERP_OF[legal_entity]]
    customer = create_customer(api, legal_entity)
    body = payloads.order(legal_entity, customer["id"])
    key = payloads.new_key()
    before = stats(sim)["sales_orders"]
    sim.post(
        "/_sim/faults",
        json={
            "mode": "commit_then_timeout",
            "latency_ms": 3000,
            "operations": ["sales_orders.create"],
        },
    )
    first = api.post("/v1/sales-orders", json=body, headers=key)
    assert first.status_code == 504, first.text
    assert first.json()["retryable"] is True
    assert stats(sim)["sales_orders"] == before + 1  # the ERP did commit
    sim.delete("/_sim/faults")
    retry = retry_while_in_progress(api, body, key)
    assert retry.status_code == 201, retry.text
    assert stats(sim)["sales_orders"] == before + 1
    order = retry.json()
    assert (
        api.get(f"/v1/sales-orders/{order['id']}").json()["erp_reference"] == order["erp_reference"]
    )
    replay = api.post("/v1/sales-orders", json=body, headers=key)
    assert replay.content == retry.content
    assert replay.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("shared", list(SHARED_STORES))
def test_duplicates_split_across_two_gateways_make_one_order(
    request: pytest.FixtureRequest, shared: str, token: str, cloud: httpx.Client
) -> None:
    first, second = request.getfixturevalue(SHARED_STORES[shared])
    with client_for(first, token) as one:
        customer = create_customer(one, "US01")
    before = stats(cloud)["sales_orders"]
    answers = _concurrent_posts(
        [first, second] * 10,
        token,
        payloads.order("US01", customer["id"]),
        payloads.new_key()["Idempotency-Key"],
    )
    assert {a.status_code for a in answers} <= {201, 409}
    assert stats(cloud)["sales_orders"] == before + 1


def test_a_gateway_killed_mid_request_is_reconciled_after_its_lease(
    gateway_env: dict[str, str],
    prod_config_dir: Path,
    redis_gateways: tuple[str, str],
    private_redis: Any,
    token: str,
    legacy: httpx.Client,
    tmp_path: Path,
) -> None:
    survivor = redis_gateways[1]
    # The survivors' configuration, but for a shorter request timeout (policies/operations.yaml).
    doomed_config = Path(shutil.copytree(prod_config_dir, tmp_path / "config"))
    (doomed_config / "policies" / "operations.yaml").write_text(
        f"requests: {{timeout_s: {KILLED_GATEWAY_TIMEOUT_S}}}\n"
    )
    env = {
        **gateway_env,
        "GATEWAY_CONFIG_DIR": str(doomed_config),
        "GATEWAY_REDIS_URL": private_redis.url,
    }
    with client_for(survivor, token) as api:
        customer = create_customer(api, "DE01")
    body = payloads.order("DE01", customer["id"])
    key = payloads.new_key()
    before = stats(legacy)["sales_orders"]
    correlation_id = "killed-" + key["Idempotency-Key"]
    # The ERP takes 1 s to commit; the gateway that sent the order dies meanwhile.
    legacy.post(
        "/_sim/faults",
        json={"mode": "latency", "latency_ms": 1000, "operations": ["sales_orders.create"]},
    )
    with start_gateway(env) as (doomed, proc):
        sender = threading.Thread(
            target=lambda: _swallow(
                lambda: client_for(doomed, token).post(
                    "/v1/sales-orders",
                    json=body,
                    headers={**key, "X-Correlation-ID": correlation_id},
                )
            )
        )
        sender.start()
        deadline = time.monotonic() + 10
        while not _order_posted(legacy, correlation_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _order_posted(legacy, correlation_id)
        # The key's lease ends by then: `lease_s` from its claim, or the request's deadline
        # and the longest commit window after it, whichever is later (it arrived before this).
        lease_ends = time.monotonic() + max(
            IDEMPOTENCY_LEASE_S, KILLED_GATEWAY_TIMEOUT_S + ERP_TIMEOUT_S + IDEMPOTENCY_GRACE_S
        )
        proc.proc.send_signal(signal.SIGKILL)  # the order is at the ERP, not yet committed
        proc.proc.wait(timeout=10)
        sender.join(timeout=10)
    deadline = time.monotonic() + 10
    while stats(legacy)["sales_orders"] < before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats(legacy)["sales_orders"] == before + 1  # committed after the gateway died
    legacy.delete("/_sim/faults")
    with client_for(survivor, token) as api:
        blocked = api.post("/v1/sales-orders", json=body, headers=key)
        assert blocked.status_code == 409  # the dead gateway's lease is still live
        assert blocked.headers["retry-after"]
        time.sleep(max(0.0, lease_ends - time.monotonic()))
        retry = api.post("/v1/sales-orders", json=body, headers=key)
        assert retry.status_code == 201, retry.text
    assert stats(legacy)["sales_orders"] == before + 1


def _swallow(call: Any) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the gateway died under it: that is the point
        call()


def _order_posted(sim: httpx.Client, correlation_id: str) -> bool:
    log = sim.get("/_sim/requests", params={"limit": 50}).json()["requests"]
    return any(
        r["method"] == "POST"
        and r["path"].endswith("/A_SalesOrder")
        and r["headers"].get("x-correlation-id") == correlation_id
        for r in log
    )

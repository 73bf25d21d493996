"""Chaos, end to end, on a gateway with retries and circuit breakers on: the simulators time
out 30 % of the time, fail in bursts, answer slowly, drop connections and send unreadable
bodies while a CRM keeps creating orders and reading them back, retrying as a CRM does.

Nothing may be created twice; every answer must come within the request's ERP deadline; the
breaker must open (and the ERP no longer be called) and close again; and every failure must be
in the journal with its category and code.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.configs import BREAKER_COOL_DOWN_S, BREAKER_FAILURES, ERP_TIMEOUT_S
from tests.e2e import payloads
from tests.e2e.checks import create_customer, stats

# The longest any answer may take: the ERP deadline, plus the gateway's own work and a margin
# for a loaded two-core machine.
ANSWER_BOUND_S = ERP_TIMEOUT_S + 1.0
ORDERS_PER_PHASE = 6
CRM_PATIENCE_S = 30.0
SALES_ORDER_POSTS = {"legacy": "/A_SalesOrder", "cloud": "/salesOrder"}


def erp_posts(sim: httpx.Client, erp: str) -> int:
    """Order creates the ERP has seen (its request log, newest 1000)."""
    log = sim.get("/_sim/requests", params={"limit": 1000}).json()["requests"]
    return sum(
        1 for r in log if r["method"] == "POST" and r["path"].endswith(SALES_ORDER_POSTS[erp])
    )


def breaker(admin: httpx.Client, backend: str) -> dict[str, Any]:
    backends = admin.get("/admin/backends").json()["backends"]
    found: dict[str, Any] = next(b["breaker"] for b in backends if b["backend"] == backend)
    return found


def wait_for_trial(admin: httpx.Client, backend: str) -> None:
    """Until the open breaker's cool-down is over (its next request is the trial)."""
    deadline = time.monotonic() + BREAKER_COOL_DOWN_S + 5
    while breaker(admin, backend)["retry_in_s"] > 0:
        assert time.monotonic() < deadline, "the breaker's cool-down never ended"
        time.sleep(0.1)


def journal_entry(admin: httpx.Client, correlation_id: str) -> dict[str, Any]:
    found = admin.get("/admin/transactions", params={"correlation_id": correlation_id}).json()
    assert len(found["items"]) == 1, found
    entry: dict[str, Any] = found["items"][0]
    return entry


def test_the_breaker_opens_stops_calling_the_erp_and_closes_after_a_trial(
    ops_api: httpx.Client, ops_admin: httpx.Client, legacy: httpx.Client
) -> None:
    customer = create_customer(ops_api, "DE01")
    legacy.post(
        "/_sim/faults",
        json={"mode": "error", "status": 503, "operations": ["sales_orders.create"]},
    ).raise_for_status()

    failures = []
    for _ in range(BREAKER_FAILURES):
        response = ops_api.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert response.status_code == 503, response.text
        failures.append(response)
    assert breaker(ops_admin, "legacy")["state"] == "open"
    seen = erp_posts(legacy, "legacy")

    started = time.monotonic()
    refused = ops_api.post(
        "/v1/sales-orders", json=payloads.order("DE01", customer["id"]), headers=payloads.new_key()
    )
    assert time.monotonic() - started < 0.5  # at once, no ERP call waited for
    assert refused.status_code == 503, refused.text
    problem = refused.json()
    assert (problem["code"], problem["backend_state"]) == ("erp_unavailable", "breaker_open")
    assert 1 <= int(refused.headers["retry-after"]) <= BREAKER_COOL_DOWN_S + 1
    assert erp_posts(legacy, "legacy") == seen  # the ERP was not called
    metrics = ops_admin.get("/metrics").text
    assert 'gateway_breaker_state{backend="legacy"} 2.0' in metrics

    # Every failure is in the journal as a technical failure with its code.
    for response in [*failures, refused]:
        entry = journal_entry(ops_admin, response.headers["x-correlation-id"])
        assert entry["status"] == "failed"
        assert entry["error"]["category"] == "technical"
        assert entry["error"]["code"] == "erp_unavailable"
        assert entry["backend"] == "legacy"

    legacy.delete("/_sim/faults")
    wait_for_trial(ops_admin, "legacy")
    trial = ops_api.post(
        "/v1/sales-orders", json=payloads.order("DE01", customer["id"]), headers=payloads.new_key()
    )
    assert trial.status_code == 201, trial.text
    assert breaker(ops_admin, "legacy")["state"] == "closed"
    assert 'gateway_breaker_state{backend="legacy"} 0.0' in ops_admin.get("/metrics").text


@dataclass
class Attempt:
    status: int
    elapsed_s: float
    correlation_id: str
    code: str | None = None
    category: str | None = None
    backend_state: str | None = None


@dataclass
class Placement:
    """One intended order, as a CRM places it: every attempt under one key until it is in."""

    key: str
    attempts: list[Attempt] = field(default_factory=list)
    order: dict[str, Any] | None = None
    reads: list[Attempt] = field(default_factory=list)


def place(api: httpx.Client, legal_entity: str, customer_id: str) -> Placement:
    body = payloads.order(legal_entity, customer_id)
    placement = Placement(uuid.uuid4().hex)
    give_up = time.monotonic() + CRM_PATIENCE_S
    while time.monotonic() < give_up:
        correlation_id = f"chaos-{uuid.uuid4().hex[:12]}"
        started = time.monotonic()
        response = api.post(
            "/v1/sales-orders",
            json=body,
            headers={"Idempotency-Key": placement.key, "X-Correlation-ID": correlation_id},
        )
        attempt = Attempt(response.status_code, time.monotonic() - started, correlation_id)
        placement.attempts.append(attempt)
        if response.status_code == 201:
            placement.order = response.json()
            break
        problem = response.json()
        attempt.code, attempt.category = problem.get("code"), problem.get("category")
        attempt.backend_state = problem.get("backend_state")
        time.sleep(min(1.0, float(response.headers.get("retry-after", "0.2"))))
    if placement.order is not None:
        for _ in range(2):
            started = time.monotonic()
            read = api.get(f"/v1/sales-orders/{placement.order['id']}")
            placement.reads.append(Attempt(read.status_code, time.monotonic() - started, ""))
    return placement


# (name, the fault on the cloud ERP's order creates, how long it lasts: None for the phase)
PHASES = [
    ("timeouts", {"mode": "timeout", "rate": 0.3, "latency_ms": 2500}, None),
    ("5xx burst", {"mode": "error", "status": 503}, 2.5),
    ("slow answers", {"mode": "latency", "latency_ms": 400}, None),
    ("dropped connections", {"mode": "drop", "rate": 0.3}, None),
    ("malformed bodies", {"mode": "malformed", "rate": 0.3}, None),
]


@pytest.mark.parametrize(("name", "fault", "burst_s"), PHASES, ids=[p[0] for p in PHASES])
def test_under_chaos_each_order_is_made_once_answered_in_time_and_journaled(
    ops_api: httpx.Client,
    ops_admin: httpx.Client,
    cloud: httpx.Client,
    name: str,
    fault: dict[str, Any],
    burst_s: float | None,
) -> None:
    customer = create_customer(ops_api, "US01")
    before = stats(cloud)["sales_orders"]
    cloud.post(
        "/_sim/faults", json={**fault, "operations": ["sales_orders.create"]}
    ).raise_for_status()
    if burst_s is not None:
        # A burst: the fault stops after a while, as a failing ERP node is taken out.
        timer = concurrent.futures.ThreadPoolExecutor(1)
        timer.submit(lambda: (time.sleep(burst_s), cloud.delete("/_sim/faults")))
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as crm:
            placements = list(
                crm.map(lambda _: place(ops_api, "US01", customer["id"]), range(ORDERS_PER_PHASE))
            )
    finally:
        if burst_s is not None:
            timer.shutdown(wait=True)
        cloud.delete("/_sim/faults")

    # Each intended order is in the ERP exactly once.
    assert all(p.order is not None for p in placements), [p.attempts for p in placements]
    erp_ids = {p.order["erp_reference"] for p in placements if p.order}
    assert len(erp_ids) == ORDERS_PER_PHASE
    assert stats(cloud)["sales_orders"] == before + ORDERS_PER_PHASE

    # Every answer came within the deadline, and every failure was a technical one (or a
    # retry told to wait), never a 500 or a business refusal.
    attempts = [a for p in placements for a in p.attempts + p.reads]
    assert max(a.elapsed_s for a in attempts) <= ANSWER_BOUND_S, sorted(
        a.elapsed_s for a in attempts
    )[-3:]
    failed = [a for p in placements for a in p.attempts if a.status != 201]
    assert all(a.category in ("technical", "idempotency") for a in failed), failed
    assert all(a.status in (409, 502, 503, 504) for a in failed), failed
    if name == "5xx burst":
        assert any(a.backend_state == "breaker_open" for a in failed)
        assert breaker(ops_admin, "cloud")["opened"] >= 1
    if name == "timeouts":
        assert any(a.code == "erp_timeout" for a in failed)

    # The journal has each transaction, accepted in the end, with every failed attempt's
    # state and code.
    for placement in placements:
        entry = journal_entry(ops_admin, placement.attempts[0].correlation_id)
        assert entry["status"] == "accepted"
        assert entry["erp_document"] == placement.order["erp_reference"]  # type: ignore[index]
        assert entry["attempts"] == len(placement.attempts)
        states = {s["correlation_id"]: s for s in entry["states"] if s["state"] != "received"}
        for attempt in placement.attempts:
            final = [
                s
                for s in entry["states"]
                if s["correlation_id"] == attempt.correlation_id
                and s["state"] not in ("received", "routed", "submitted")
            ]
            assert len(final) == 1, (attempt, entry["states"])
            if attempt.status == 201:
                assert final[0]["state"] == "accepted"
            elif attempt.status == 409:
                assert (final[0]["state"], final[0]["code"]) == (
                    "refused",
                    "idempotency_in_progress",
                )
            else:
                assert (final[0]["state"], final[0]["code"]) == ("failed", attempt.code)
        assert states

    # And the breaker is closed again once the ERP behaves.
    if breaker(ops_admin, "cloud")["state"] != "closed":
        wait_for_trial(ops_admin, "cloud")
        probe = ops_api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert probe.status_code == 201, probe.text
    assert breaker(ops_admin, "cloud")["state"] == "closed"

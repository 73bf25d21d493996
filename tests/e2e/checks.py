"""Small end-to-end helpers: create through the API, read simulator counters, check problems."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e import payloads


def stats(sim: httpx.Client) -> dict[str, Any]:
    response = sim.get("/_sim/stats")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def create_customer(api: httpx.Client, legal_entity: str, **overrides: Any) -> dict[str, Any]:
    response = api.post("/v1/customers", json=payloads.customer(legal_entity, **overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def new_order(api: httpx.Client, legal_entity: str) -> dict[str, Any]:
    """A new customer of `legal_entity` and an order for it (201), keyed."""
    customer = create_customer(api, legal_entity)
    response = api.post(
        "/v1/sales-orders",
        json=payloads.order(legal_entity, customer["id"]),
        headers=payloads.new_key(),
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def assert_business_problem(response: httpx.Response, code: str, pointer: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["category"] == "business"
    assert problem["code"] == code
    assert problem["retryable"] is False
    assert problem["status"] == 422
    assert problem["correlation_id"] == response.headers["x-correlation-id"]
    assert pointer in [e["pointer"] for e in problem["errors"]], problem
    assert problem["detail"]


JOB_DEADLINE_S = 30.0


def run_migration(admin: httpx.Client, legal_entity: str, to: str) -> dict[str, Any]:
    """Start a migration job through the admin API and wait until it is no longer running;
    the job as it ended."""
    started = admin.post("/admin/migrations", json={"legal_entity": legal_entity, "to": to})
    assert started.status_code == 202, started.text
    end = time.monotonic() + JOB_DEADLINE_S
    while True:
        job: dict[str, Any] = admin.get(started.headers["location"]).json()
        if job["status"] != "running":
            return job
        assert time.monotonic() < end, job
        time.sleep(0.1)


def retry_while_in_progress(
    api: httpx.Client, body: dict[str, Any], key: dict[str, str]
) -> httpx.Response:
    """What a well-behaved CRM does: retry the same request while the gateway answers 409
    (the ERP may still be committing the first attempt), waiting Retry-After each time."""
    deadline = time.monotonic() + 15
    while True:
        response = api.post("/v1/sales-orders", json=body, headers=key)
        if response.status_code != 409 or time.monotonic() > deadline:
            return response
        time.sleep(float(response.headers["retry-after"]))

"""Replays, end to end: an operator sends a journaled transaction again from the admin API.
Each replayable case once and twice, a transaction the CRM has since retried, a business
rejection with a corrected body; none may leave a second document in the ERP. The replays and
outcomes land in the audit trail, which `gateway audit export` and `verify` check."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.configs import ERP_TIMEOUT_S
from tests.e2e import payloads
from tests.e2e.checks import create_customer, retry_while_in_progress, stats
from tests.e2e.gateways import token_for
from tests.servers import PYTHON

AUDIT_FLUSH_WAIT_S = 5.0  # at most: the buffered appends go within about 50 ms


def transaction_of(admin: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    correlation_id = response.headers["x-correlation-id"]
    found = admin.get("/admin/transactions", params={"correlation_id": correlation_id})
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert len(items) == 1, items
    entry: dict[str, Any] = items[0]
    return entry


def replay(admin: httpx.Client, transaction_id: str, body: Any = None) -> httpx.Response:
    payload = {} if body is None else {"body": body}
    return admin.post(f"/admin/transactions/{transaction_id}/replay", json=payload)


def replay_when_settled(admin: httpx.Client, transaction_id: str) -> httpx.Response:
    """Replay, waiting while the gateway holds the key for a late commit (its answer 409)."""
    deadline = time.monotonic() + 15
    while True:
        response = replay(admin, transaction_id)
        assert response.status_code == 200, response.text
        if response.json()["replay"]["status"] != 409 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def failed_order(
    api: httpx.Client, sim: httpx.Client, legal_entity: str, fault: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str], httpx.Response]:
    customer = create_customer(api, legal_entity)
    body = payloads.order(legal_entity, customer["id"])
    key = payloads.new_key()
    sim.post("/_sim/faults", json={**fault, "operations": ["sales_orders.create"]})
    response = api.post("/v1/sales-orders", json=body, headers=key)
    sim.delete("/_sim/faults")
    return body, key, response


def test_a_technical_failure_is_replayed_once_and_a_second_replay_is_refused(
    ops_api: httpx.Client, ops_admin: httpx.Client, legacy: httpx.Client
) -> None:
    before = stats(legacy)["sales_orders"]
    _, _, failed = failed_order(ops_api, legacy, "DE01", {"mode": "error", "status": 503})
    assert failed.status_code == 503, failed.text
    entry = transaction_of(ops_admin, failed)
    assert (entry["status"], entry["error"]["category"]) == ("failed", "technical")

    first = replay(ops_admin, entry["id"])

    assert first.status_code == 200, first.text
    outcome = first.json()
    assert outcome["replay"]["status"] == 201
    assert outcome["transaction"]["status"] == "accepted"
    assert outcome["transaction"]["erp_document"] == outcome["replay"]["answer"]["erp_reference"]
    assert "replay by ops-admin" in {s["by"] for s in outcome["transaction"]["states"]}
    assert stats(legacy)["sales_orders"] == before + 1

    again = replay(ops_admin, entry["id"])
    assert again.status_code == 422, again.text
    assert again.json()["code"] == "invalid_state"
    assert stats(legacy)["sales_orders"] == before + 1


def test_a_write_whose_outcome_was_unknown_is_reconciled_not_sent_twice(
    ops_api: httpx.Client, ops_admin: httpx.Client, legacy: httpx.Client
) -> None:
    before = stats(legacy)["sales_orders"]
    fault = {"mode": "commit_then_timeout", "latency_ms": int(ERP_TIMEOUT_S * 1000) + 1500}
    _, _, failed = failed_order(ops_api, legacy, "DE01", fault)
    assert failed.status_code == 504, failed.text
    entry = transaction_of(ops_admin, failed)
    assert entry["outcome_unknown"] is True
    assert stats(legacy)["sales_orders"] == before + 1  # the ERP did commit it

    outcome = replay_when_settled(ops_admin, entry["id"]).json()
    assert outcome["replay"]["status"] == 201
    assert outcome["transaction"]["status"] == "accepted"
    assert stats(legacy)["sales_orders"] == before + 1  # found, not created again
    assert replay(ops_admin, entry["id"]).status_code == 422
    assert stats(legacy)["sales_orders"] == before + 1


def test_a_transaction_the_crm_has_since_retried_is_not_replayed_into_a_duplicate(
    ops_api: httpx.Client, ops_admin: httpx.Client, cloud: httpx.Client
) -> None:
    before = stats(cloud)["sales_orders"]
    body, key, failed = failed_order(ops_api, cloud, "US01", {"mode": "error", "status": 503})
    assert failed.status_code == 503, failed.text
    retried = retry_while_in_progress(ops_api, body, key)
    assert retried.status_code == 201, retried.text
    entry = transaction_of(ops_admin, failed)
    assert entry["status"] == "accepted"  # the retry joined the same transaction

    refused = replay(ops_admin, entry["id"])
    assert refused.status_code == 422, refused.text
    assert stats(cloud)["sales_orders"] == before + 1


def test_a_business_rejection_is_replayed_only_with_a_corrected_body(
    ops_api: httpx.Client, ops_admin: httpx.Client, cloud: httpx.Client
) -> None:
    before = stats(cloud)["sales_orders"]
    body, key, rejected = failed_order(ops_api, cloud, "US01", {"mode": "error", "status": 400})
    assert rejected.status_code == 422, rejected.text
    entry = transaction_of(ops_admin, rejected)
    assert (entry["status"], entry["error"]["category"]) == ("rejected", "business")
    detail = ops_admin.get(f"/admin/transactions/{entry['id']}").json()
    assert detail["request"]["body"] == body
    assert "idempotency_key" not in detail["request"]  # only its digest is shown
    assert detail["idempotency_key_sha256"]

    unchanged = replay(ops_admin, entry["id"])
    assert unchanged.status_code == 422, unchanged.text
    assert "corrected body" in unchanged.json()["detail"]

    corrected = {**body, "lines": [{"sku": "WIDGET-1", "quantity": 2, "unit_price": "19.99"}]}
    outcome = replay(ops_admin, entry["id"], corrected).json()
    assert outcome["replay"]["status"] == 201, outcome
    assert outcome["replay"]["answer"]["lines"][0]["quantity"] == 2
    assert outcome["transaction"]["status"] == "accepted"
    assert stats(cloud)["sales_orders"] == before + 1
    # The key now carries the corrected order: the original sent again is another request.
    assert ops_api.post("/v1/sales-orders", json=body, headers=key).status_code == 422
    assert replay(ops_admin, entry["id"], corrected).status_code == 422
    assert stats(cloud)["sales_orders"] == before + 1


def test_a_technical_failure_is_replayed_as_it_was_never_with_another_body(
    ops_api: httpx.Client, ops_admin: httpx.Client, legacy: httpx.Client
) -> None:
    body, _, failed = failed_order(ops_api, legacy, "DE01", {"mode": "error", "status": 503})
    entry = transaction_of(ops_admin, failed)
    refused = replay(ops_admin, entry["id"], {**body, "external_ref": "CHANGED"})
    assert refused.status_code == 422, refused.text
    assert transaction_of(ops_admin, failed)["status"] == "failed"


def test_replays_need_the_admin_scope_and_a_known_transaction(
    ops_api: httpx.Client, ops_admin: httpx.Client
) -> None:
    assert ops_api.post("/admin/transactions/tx_x/replay", json={}).status_code == 403
    missing = replay(ops_admin, "tx_doesnotexist")
    assert missing.status_code == 404, missing.text
    bad = ops_admin.post("/admin/transactions/tx_x/replay", json={"bdy": {}})
    assert bad.status_code == 400, bad.text


def test_the_audit_trail_records_replays_and_outcomes_and_verifies(
    ops_api: httpx.Client,
    ops_admin: httpx.Client,
    ops_gateway_url: str,
    ops_config_dir: Path,
    legacy: httpx.Client,
    tmp_path: Path,
) -> None:
    _, _, failed = failed_order(ops_api, legacy, "DE01", {"mode": "error", "status": 503})
    entry = transaction_of(ops_admin, failed)
    assert replay(ops_admin, entry["id"]).json()["replay"]["status"] == 201

    lines = ops_admin.get("/admin/audit").text.splitlines()
    audit = [json.loads(line) for line in lines]
    assert audit[0]["kind"] == "config.loaded"
    replays = [
        a for a in audit if a["kind"] == "admin.replay" and a["details"]["id"] == entry["id"]
    ]
    assert [(a["actor"], a["details"]["status"]) for a in replays] == [("ops-admin", 201)]
    outcomes = [a["details"]["status"] for a in audit if a["details"].get("id") == entry["id"]]
    assert outcomes[:1] == ["failed"] and "accepted" in outcomes
    verdict = ops_admin.get("/admin/audit/verify")
    assert verdict.status_code == 200 and verdict.json()["intact"] is True

    # The command line: export, verify, and a tampered copy named at its first bad line.
    env = {
        **os.environ,
        "GATEWAY_ADMIN_TOKEN": token_for("ops-admin", ops_config_dir),
    }
    exported = tmp_path / "audit.jsonl"
    run = subprocess.run(
        [PYTHON, "-m", "gateway.cli", "audit", "export", "--url", ops_gateway_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    exported.write_text(run.stdout)
    assert len(run.stdout.splitlines()) >= len(lines)
    checked = subprocess.run(
        [PYTHON, "-m", "gateway.cli", "audit", "verify", "--file", str(exported)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "intact" in checked.stdout
    assert "warning" not in checked.stderr
    # It says where it starts and ends: a copy without its last entry is found out, and a
    # head kept elsewhere is checked.
    written = run.stdout.splitlines()
    start, end = json.loads(written[0]), json.loads(written[-1])
    assert (start["export"], start["first_seq"], end["export"]) == ("start", 1, "end")
    assert end["entries"] == len(written) - 2 and "exported" in run.stderr
    # and the store's head the gateway read as it began, which the chain reaches
    assert 0 < end["store_head"]["seq"] <= end["last_seq"]
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join([*written[:-2], written[-1]]) + "\n")

    def verify(path: Path, *more: str) -> subprocess.CompletedProcess[str]:
        command = [PYTHON, "-m", "gateway.cli", "audit", "verify", "--file", str(path), *more]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    shortened = verify(cut)
    assert shortened.returncode == 1
    assert "entries were cut from its end" in shortened.stderr, shortened.stderr
    assert verify(exported, "--expect-head", end["head"]).returncode == 0
    elsewhere = verify(exported, "--expect-head", "0" * 64)
    assert elsewhere.returncode == 1
    assert f"with head {end['head']}, not the expected" in elsewhere.stderr

    tampered = run.stdout.splitlines()
    victim = json.loads(tampered[2])
    victim["actor"] = "someone-else"
    tampered[2] = json.dumps(victim)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(tampered) + "\n")
    refused = subprocess.run(
        [PYTHON, "-m", "gateway.cli", "audit", "verify", "--file", str(forged)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert f"{forged}:3: entry edited" in refused.stderr


@pytest.mark.redis
def test_two_gateway_processes_on_one_redis_keep_one_audit_chain(
    redis_gateways: tuple[str, str], prod_config_dir: Path
) -> None:
    token = token_for("crm-demo", prod_config_dir)
    for url in redis_gateways:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        ) as api:
            for _ in range(3):
                create_customer(api, "DE01")
    admin_token = token_for("ops-admin", prod_config_dir)
    with httpx.Client(
        base_url=redis_gateways[0], headers={"Authorization": f"Bearer {admin_token}"}, timeout=15
    ) as admin:
        # Each process appends its entries from a buffer, within about 50 ms of them: the
        # second process's creates may just have ended.
        deadline = time.monotonic() + AUDIT_FLUSH_WAIT_S
        while True:
            audit = [json.loads(line) for line in admin.get("/admin/audit").text.splitlines()]
            instances = {a["details"].get("instance") for a in audit if a["kind"] == "transaction"}
            if len(instances - {None}) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        verdict = admin.get("/admin/audit/verify").json()
    assert verdict["intact"] is True, verdict
    # Both processes (and any other this Redis served in the session) appended to one chain.
    assert len(instances - {None}) >= 2
    assert [a["seq"] for a in audit] == list(range(audit[0]["seq"], audit[0]["seq"] + len(audit)))

"""The operators' side in-process: admin actions and reloads in the audit trail with who did
them, a migration job as a journal entry, the overview, and retries spending the ERP budget."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from gateway.config.rate_limits import BackendBudget
from gateway.runtime import retry_hooks
from gateway.store.audit import (
    AUDIT_HEAD_HEADER,
    GENESIS,
    AuditEvent,
    AuditRead,
    ExportEnds,
    MemoryAudit,
    canonical,
    verify_file,
    verify_lines,
)
from gateway.store.base import Store, StoreUnavailable
from gateway.store.memory import MemoryStore
from tests.configs import copy_config
from tests.conftest import PrefixedRedisStore, redis_url
from tests.e2e import payloads
from tests.harness import in_process_gateway

JOB_DEADLINE_S = 10.0


async def audit_of(ops: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await ops.get("/admin/audit")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/jsonl")
    lines = response.text.splitlines()
    assert verify_lines(lines, GENESIS).intact
    return [json.loads(line) for line in lines]


class _AuditUnreadable(MemoryAudit):
    """An audit chain that takes appends but cannot be read, as when Redis went away."""

    async def read(self, from_seq: int, count: int, skip: int = 0) -> AuditRead:
        raise StoreUnavailable()


async def test_the_audit_export_is_a_503_problem_not_a_broken_off_200_when_the_store_is_down() -> (
    None
):
    store = MemoryStore()
    store.audit = _AuditUnreadable()
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        exported = await ops.get("/admin/audit")
        verified = await ops.get("/admin/audit/verify")
    assert (exported.status_code, exported.json()["code"]) == (503, "store_unavailable")
    assert exported.headers["content-type"].startswith("application/problem+json")
    assert (verified.status_code, verified.json()["code"]) == (503, "store_unavailable")


class _AppendedWhileRead(MemoryAudit):
    """A chain at its cap that another process appends `batch` entries to (and so trims as
    many from its front) after the first chunk an export or a verification reads."""

    CAP = 1500  # stands for audit.max_entries: any chain longer than one chunk

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch = batch

    async def read(self, from_seq: int, count: int, skip: int = 0) -> AuditRead:
        read = await super().read(from_seq, count, skip)
        if from_seq == 0:
            await self.append(_events(self.batch), self.CAP)
        return read


def _events(count: int) -> list[AuditEvent]:
    return [AuditEvent("transaction", "crm-demo", {"n": n}, time.time()) for n in range(count)]


async def test_an_untouched_chain_at_its_cap_verifies_and_exports_while_it_is_appended_to() -> None:
    store = MemoryStore()
    store.audit = chain = _AppendedWhileRead(batch=5)
    await chain.append(_events(chain.CAP), chain.CAP)
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        verified = await ops.get("/admin/audit/verify")
        exported = await ops.get("/admin/audit")
    assert verified.status_code == 200, verified.json()
    assert "trimmed_while_read" not in verified.json()
    lines = exported.text.splitlines()
    verdict = verify_file(lines)
    assert verdict.intact, verdict
    seqs = [json.loads(line)["seq"] for line in lines]
    # The trail as it stood when the export began: none skipped, none twice, none appended
    # while it was read (those come with the next export).
    assert seqs == list(range(seqs[0], seqs[0] + chain.CAP))
    assert exported.headers[AUDIT_HEAD_HEADER] == f"{seqs[-1]} {json.loads(lines[-1])['hash']}"


async def test_an_export_ends_at_the_head_it_began_at_and_the_next_holds_what_came_since() -> None:
    store = MemoryStore()
    store.audit = chain = _AppendedWhileRead(batch=5)
    await chain.append(_events(10), chain.CAP)  # one chunk: the export's own entry comes next
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        first = await ops.get("/admin/audit")
        second = await ops.get("/admin/audit")
    kinds = [[json.loads(line)["kind"] for line in r.text.splitlines()] for r in (first, second)]
    assert len(kinds[0]) == 10 and "admin.audit_export" not in kinds[0]
    # Since: the 5 appended after the first export's read, then its own entry; not the second's.
    assert kinds[1][:10] == kinds[0] and kinds[1].count("admin.audit_export") == 1
    assert len(kinds[1]) == 10 + 5 + 1


async def test_entries_trimmed_past_a_read_are_said_missing_and_not_a_broken_chain() -> None:
    store = MemoryStore()
    store.audit = chain = _AppendedWhileRead(batch=1200)  # more than a chunk: past the read
    await chain.append(_events(chain.CAP), chain.CAP)
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        verified = await ops.get("/admin/audit/verify")
        exported = await ops.get("/admin/audit")
    assert verified.status_code == 200, verified.json()
    assert verified.json()["trimmed_while_read"] > 0
    verdict = verify_file(exported.text.splitlines())
    assert verdict.intact, verdict
    assert verdict.trimmed > 0
    removed = [line for line in exported.text.splitlines() if '"export"' not in line]
    del removed[1100]  # an entry removed by hand is still found
    assert not verify_file(removed).intact


async def test_reloads_and_refused_reloads_are_audited_with_what_triggered_them(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    copy_config(config)
    async with in_process_gateway(MemoryStore(), config) as gw, gw.client("ops-admin") as ops:
        assert (await ops.post("/admin/config/reload")).status_code == 200
        routes = config / "routes.yaml"
        routes.write_text(routes.read_text() + "\nunknown_key: 1\n")
        assert (await ops.post("/admin/config/reload")).status_code == 400
        audit = await audit_of(ops)
    kinds = [(a["kind"], a["actor"]) for a in audit]
    assert ("config.reloaded", "admin ops-admin") in kinds
    refused = next(a for a in audit if a["kind"] == "config.refused")
    assert refused["actor"] == "admin ops-admin"
    assert any("routes.yaml" in issue for issue in refused["details"]["issues"])
    assert refused["details"]["running_version"] == gw.runtime.config.version


async def test_a_migration_job_is_audited_and_journaled() -> None:
    async with (
        in_process_gateway(MemoryStore()) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        for _ in range(2):
            assert (
                await api.post("/v1/customers", json=payloads.customer("CA01"))
            ).status_code == 201
        started = await ops.post("/admin/migrations", json={"legal_entity": "CA01", "to": "cloud"})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        end = time.monotonic() + JOB_DEADLINE_S
        while (await ops.get(f"/admin/migrations/{job_id}")).json()["status"] == "running":
            assert time.monotonic() < end
            await asyncio.sleep(0.02)
        entry = (await ops.get(f"/admin/transactions/{job_id}")).json()
        audit = await audit_of(ops)
    assert (entry["operation"], entry["status"], entry["legal_entity"], entry["backend"]) == (
        "migrations.run",
        "accepted",
        "CA01",
        "cloud",
    )
    assert entry["migration"]["copied"] == 2
    started_by = next(a for a in audit if a["kind"] == "admin.migration")
    assert (started_by["actor"], started_by["details"]["job"]) == ("ops-admin", job_id)


async def test_an_xref_import_is_audited_and_a_dry_run_is_not() -> None:
    csv_text = (
        "kind,gateway_id,source_backend,source_erp_id,target_backend,target_erp_id,"
        "target_document_number\n"
    )
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        headers = {"Content-Type": "text/csv"}
        for dry_run in ("true", "false"):
            response = await ops.post(
                f"/admin/xref/import?dry_run={dry_run}", content=csv_text, headers=headers
            )
            assert response.status_code == 200, response.text
        audit = await audit_of(ops)
    imports = [a for a in audit if a["kind"] == "admin.xref_import"]
    assert [(a["actor"], a["details"]["rows"]) for a in imports] == [("ops-admin", 0)]


async def test_exports_of_the_xref_and_the_audit_trail_are_audited_with_what_was_asked() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        async with gw.client() as api:
            assert (
                await api.post("/v1/customers", json=payloads.customer("DE01"))
            ).status_code == 201
        for params in ({"legal_entity": "DE01"}, {}):
            exported = await ops.get("/admin/xref/export", params=params)
            assert exported.status_code == 200, exported.text
        trail = await ops.get("/admin/audit", params={"start": 0, "limit": 5})
        assert trail.status_code == 200, trail.text
        await gw.runtime.audit.flush()
        audit = await audit_of(ops)
    xref = [(a["actor"], a["details"]) for a in audit if a["kind"] == "admin.xref_export"]
    assert xref == [
        ("ops-admin", {"legal_entity": "DE01", "records": 1}),
        ("ops-admin", {"legal_entity": None, "records": 1}),
    ]
    trails = [a for a in audit if a["kind"] == "admin.audit_export"]
    assert [(a["actor"], a["details"]) for a in trails[:1]] == [
        ("ops-admin", {"start": 0, "limit": 5})
    ]
    assert all(a["client_ip"] for a in trails)  # as every admin action's: who asked, from where


async def test_a_head_of_an_export_takes_nothing_out_and_is_not_recorded_as_an_export() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        for path in ("/admin/xref/export", "/admin/audit"):
            head = await ops.head(path)
            assert (head.status_code, head.content) == (200, b""), path
        assert AUDIT_HEAD_HEADER in head.headers  # what a GET would say of the trail
        await gw.runtime.audit.flush()
        audit = await audit_of(ops)
    kinds = [a["kind"] for a in audit]
    assert "admin.xref_export" not in kinds
    assert "admin.audit_export" not in kinds


async def test_the_overview_shows_the_migration_map_breakers_and_figures() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        overview = (await ops.get("/admin/overview")).json()
        assert (await ops.get("/admin/overview")).status_code == 200
        async with gw.client() as api:
            assert (await api.get("/admin/overview")).status_code == 403
    rows = {row["legal_entity"]: row for row in overview["migration_map"]}
    assert rows["US01"]["backend"] == "cloud" and rows["DE01"]["backend"] == "legacy"
    assert {b["backend"]: b["breaker"]["state"] for b in overview["backends"]} == {
        "cloud": "closed",
        "legacy": "closed",
    }
    assert set(overview["open_exceptions"]) == {"lt_1h", "1h_to_24h", "gt_24h"}
    assert set(overview["figures"]) >= {"orders", "order_acceptance", "customers_created"}


async def test_a_retry_spends_a_request_of_the_erp_budget_and_none_is_left_after() -> None:
    store = MemoryStore()
    hooks = retry_hooks("legacy", store, BackendBudget(max_rps=1, max_in_flight=4))
    assert hooks.permit is not None
    assert await hooks.permit() is True
    assert await hooks.permit() is False  # the budget's one request this second is spent
    unlimited = retry_hooks("legacy", store, None)
    assert unlimited.permit is not None and await unlimited.permit() is True


async def test_a_refused_correction_keeps_what_the_journal_knew_and_the_request() -> None:
    async with (
        in_process_gateway(MemoryStore()) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        body = payloads.order("DE01", customer["id"])
        gw.erps["legacy"].unknown_skus.add("GADGET-2")
        rejected = await api.post("/v1/sales-orders", json=body, headers=payloads.new_key())
        assert rejected.status_code == 422
        correlation_id = rejected.headers["x-correlation-id"]
        listed = await ops.get("/admin/transactions", params={"correlation_id": correlation_id})
        entry_id = listed.json()["items"][0]["id"]

        bad = {**body, "currency": "XX"}
        refused = await ops.post(f"/admin/transactions/{entry_id}/replay", json={"body": bad})
        assert refused.json()["replay"]["status"] == 400
        after = (await ops.get(f"/admin/transactions/{entry_id}")).json()
        assert (after["status"], after["legal_entity"], after["backend"]) == (
            "rejected",
            "DE01",
            "legacy",
        )
        assert after["rule"] is not None
        assert after["request"]["body"] == body  # the original, for the next correction

        gw.erps["legacy"].unknown_skus.discard("GADGET-2")
        fixed = await ops.post(f"/admin/transactions/{entry_id}/replay", json={"body": body})
        assert fixed.json()["transaction"]["status"] == "accepted"


async def test_an_xref_import_with_a_field_over_the_csv_limit_is_a_400_naming_its_line() -> None:
    csv_text = (
        "kind,gateway_id,source_backend,source_erp_id,target_backend,target_erp_id,"
        "target_document_number\n"
        "customer,cus_1,,,cloud,1,\n"
        "customer," + "x" * 200_000 + ",,,cloud,2,\n"
    )
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        response = await ops.post(
            "/admin/xref/import",
            params={"first_line": "101"},
            content=csv_text.encode(),
            headers={"Content-Type": "text/csv"},
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert "line 103" in problem["detail"] and "field limit" in problem["detail"]


async def test_an_admin_endpoint_that_fails_unexpectedly_answers_a_problem_with_its_correlation_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryStore()

    async def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(store.shadow, "read", broken)
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        response = await ops.get("/admin/shadow/report", headers={"X-Correlation-ID": "bug-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-correlation-id"] == "bug-1"
    problem = response.json()
    assert (problem["code"], problem["correlation_id"]) == ("internal_error", "bug-1")
    assert "a bug" not in response.text


async def test_an_audit_listing_from_beyond_any_trail_is_a_400_not_a_broken_stream(
    store: Store,
) -> None:
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        refused = await ops.get("/admin/audit", params={"start": str(10**30)})
        past_the_end = await ops.get("/admin/audit", params={"start": "99999999"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["pointer"] == "/start"
    assert (past_the_end.status_code, past_the_end.text) == (200, "")


@pytest.mark.redis
@pytest.mark.parametrize("tamper", ["removed", "edited"])
async def test_the_stored_chains_last_entry_removed_or_rehashed_is_a_broken_chain(
    redis_store: PrefixedRedisStore, tamper: str
) -> None:
    store, chain = redis_store.store, f"{redis_store.prefix}{{audit}}:chain"
    await store.audit.append(_events(3), 1000)
    client = aioredis.from_url(redis_url())
    try:
        if tamper == "removed":  # the record of what someone did, taken away
            await client.rpop(chain)
        else:  # or changed, and hashed again to look whole
            last = json.loads(await client.lindex(chain, -1))
            last["actor"] = "someone-else"
            last["hash"] = hashlib.sha256(canonical(last)).hexdigest()
            await client.lset(chain, -1, json.dumps(last))
    finally:
        await client.aclose()
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        verified = await ops.get("/admin/audit/verify")
    assert verified.status_code == 409, verified.json()
    # Named where the chain stops being the one appended: the third entry, gone or changed.
    assert verified.json()["bad_line"] == 3
    assert "head" in verified.json()["reason"]


@pytest.mark.redis
@pytest.mark.parametrize("tamper", ["removed", "edited"])
async def test_an_export_taken_after_the_stored_chains_last_entry_was_removed_or_rehashed_fails(
    redis_store: PrefixedRedisStore, tamper: str
) -> None:
    """The export's end record carries the store's head as the gateway read it: a trail whose
    newest entry someone took away (or changed and hashed again) before it was exported does
    not verify, with no head kept elsewhere (`--expect-head`)."""
    store, chain = redis_store.store, f"{redis_store.prefix}{{audit}}:chain"
    await store.audit.append(_events(3), 1000)
    client = aioredis.from_url(redis_url())
    try:
        if tamper == "removed":
            await client.rpop(chain)
        else:
            last = json.loads(await client.lindex(chain, -1))
            last["actor"] = "someone-else"
            last["hash"] = hashlib.sha256(canonical(last)).hexdigest()
            await client.lset(chain, -1, json.dumps(last))
    finally:
        await client.aclose()
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        response = await ops.get("/admin/audit")
    assert response.status_code == 200
    # As `gateway audit export` writes it.
    ends = ExportEnds()
    ends.began(response.headers.get(AUDIT_HEAD_HEADER))
    exported = b"".join(ends.wrap([response.content])).decode().splitlines()

    verdict = verify_file(exported)
    assert not verdict.intact, exported
    assert verdict.bad_line == len(exported)  # the end record, which says where it ends
    assert "the store's head when the export began was seq 3" in verdict.reason

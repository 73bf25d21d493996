"""Each admin action's audit entry names the operator's network address (`client_ip`), as the
request carried it (the peer's, or a trusted proxy's client: see tests/e2e/test_client_address),
beside the operator's client id; what no request asked for (start-up) has none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from gateway.observability.logging import access_log
from gateway.store.audit import GENESIS, AuditEvent, ChainHead, chained, verify_lines
from gateway.store.memory import MemoryStore
from tests.configs import copy_config
from tests.conftest import AccessLines
from tests.e2e import payloads
from tests.e2e.test_dead_letter_pages import dead_letters
from tests.harness import Gateway, in_process_gateway, token_for
from tests.pipeline.test_operations_admin import audit_of

OPERATOR_IP = "192.0.2.10"  # where the operator's requests come from


def operator(gw: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gw.app, client=(OPERATOR_IP, 41000)),
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {token_for('ops-admin')}"},
    )


def _by_kind(audit: list[dict[str, Any]], kind: str) -> list[tuple[str, str | None]]:
    return [(a["actor"], a.get("client_ip")) for a in audit if a["kind"] == kind]


async def test_reloads_an_operator_asked_for_name_the_operators_address(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    async with in_process_gateway(MemoryStore(), config) as gw, operator(gw) as ops:
        assert (await ops.post("/admin/config/reload")).status_code == 200
        routes = config / "routes.yaml"
        routes.write_text(routes.read_text() + "\nunknown_key: 1\n")
        assert (await ops.post("/admin/config/reload")).status_code == 400
        await gw.runtime.audit.flush()
        audit = await audit_of(ops)
    assert _by_kind(audit, "config.reloaded") == [("admin ops-admin", OPERATOR_IP)]
    assert _by_kind(audit, "config.refused") == [("admin ops-admin", OPERATOR_IP)]


async def test_startup_names_no_address() -> None:
    async with in_process_gateway(MemoryStore()) as gw, operator(gw) as ops:
        gw.runtime.audit.record("config.loaded", "startup", {})  # as the lifespan does
        audit = await audit_of(ops)
    (loaded,) = [a for a in audit if a["kind"] == "config.loaded"]
    assert "client_ip" not in loaded  # the entry as it always was: its hash unchanged


async def test_migrations_xref_imports_and_shadow_resets_name_the_operators_address() -> None:
    csv_text = (
        "kind,gateway_id,source_backend,source_erp_id,target_backend,target_erp_id,"
        "target_document_number\n"
    )
    async with in_process_gateway(MemoryStore()) as gw, operator(gw) as ops:
        started = await ops.post("/admin/migrations", json={"legal_entity": "CA01", "to": "cloud"})
        assert started.status_code == 202, started.text
        imported = await ops.post(
            "/admin/xref/import", content=csv_text, headers={"Content-Type": "text/csv"}
        )
        assert imported.status_code == 200, imported.text
        assert (await ops.delete("/admin/shadow/report")).status_code == 204
        audit = await audit_of(ops)
    for kind in ("admin.migration", "admin.xref_import", "admin.shadow_reset"):
        assert _by_kind(audit, kind) == [("ops-admin", OPERATOR_IP)], kind


async def test_a_replay_names_the_operators_address_in_its_audit_entry_and_access_line(
    access_lines: AccessLines,
) -> None:
    async with (
        in_process_gateway(MemoryStore()) as gw,
        gw.client() as api,
        operator(gw) as ops,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        body = payloads.order("DE01", customer["id"])
        refused = await api.post(
            "/v1/sales-orders", json={**body, "lines": "two"}, headers=payloads.new_key()
        )
        assert refused.status_code in (400, 422), refused.text
        listed = await ops.get(
            "/admin/transactions", params={"correlation_id": refused.headers["x-correlation-id"]}
        )
        (entry,) = listed.json()["items"]
        fixed = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={"body": body})
        assert fixed.json()["replay"]["status"] == 201, fixed.text
        audit = await audit_of(ops)
    assert _by_kind(audit, "admin.replay") == [("ops-admin", OPERATOR_IP)]
    access_log.stop()  # written out
    replayed = fixed.json()["replay"]["correlation_id"]
    (line,) = [e for e in access_lines.entries if e.get("correlation_id") == replayed]
    assert (line["replayed_by"], line["client_ip"]) == ("ops-admin", OPERATOR_IP)


async def test_a_dead_letter_replay_names_the_operators_address() -> None:
    store = MemoryStore()
    (delivery,) = await dead_letters(store, 1)
    async with in_process_gateway(store) as gw, operator(gw) as ops:
        replayed = await ops.post(f"/admin/events/dead-letters/{delivery}/replay")
        assert replayed.status_code == 202, replayed.text
        audit = await audit_of(ops)
    assert _by_kind(audit, "events.dead_letter.replayed") == [("ops-admin", OPERATOR_IP)]


def test_the_entrys_address_is_covered_by_its_hash() -> None:
    event = AuditEvent("admin.replay", "ops-admin", {}, 0.0, client_ip=OPERATOR_IP)
    (line,) = chained([event], ChainHead(0, GENESIS))
    assert json.loads(line)["client_ip"] == OPERATOR_IP
    forged = line.replace(OPERATOR_IP, "198.51.100.1")
    assert verify_lines([line], GENESIS).intact
    assert not verify_lines([forged], GENESIS).intact

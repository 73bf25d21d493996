"""Moving records through the admin API: migration jobs that copy a legal entity's customers to
another ERP (idempotent, a dry run copying nothing), the ID cross-reference exported and
imported as CSV (every bad row reported by its line), and routing explained."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from gateway.domain.errors import Code, ErpFailure, GatewayReferenceTaken
from gateway.domain.operations import Kind
from gateway.service.breaker import BreakerState
from gateway.store.base import Store, XrefRecord
from tests.configs import write_config
from tests.e2e import payloads
from tests.harness import erp_calls_timed, in_process_gateway

JOB_DEADLINE_S = 10.0


async def _customers(api: httpx.AsyncClient, legal_entity: str, count: int) -> list[dict[str, Any]]:
    created = []
    for _ in range(count):
        response = await api.post("/v1/customers", json=payloads.customer(legal_entity))
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


async def _finished(ops: httpx.AsyncClient, location: str) -> dict[str, Any]:
    end = time.monotonic() + JOB_DEADLINE_S
    while True:
        job: dict[str, Any] = (await ops.get(location)).json()
        if job["status"] != "running":
            return job
        assert time.monotonic() < end, job
        await asyncio.sleep(0.02)


async def _migrate(ops: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    started = await ops.post(
        "/admin/migrations", json={"legal_entity": "CA01", "to": "cloud", **body}
    )
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/admin/migrations/{started.json()['id']}"
    return await _finished(ops, started.headers["location"])


async def test_a_migration_copies_every_customer_of_the_legal_entity_once(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api, gw.client("ops-admin") as ops:
        customers = await _customers(api, "CA01", 5)
        await _customers(api, "DE01", 2)  # another legal entity: not moved
        cloud = gw.erps["cloud"]
        timed_before = erp_calls_timed("cloud", "create_customer", "ok", "migration")
        job = await _migrate(ops)
        assert (job["status"], job["total"], job["done"], job["failed"]) == ("succeeded", 5, 5, 0)
        # Timed with the ERP's other calls, as a migration's.
        assert erp_calls_timed("cloud", "create_customer", "ok", "migration") == timed_before + 5
        assert job["copied"] == 5 and job["errors"] == []
        assert len(cloud.customers) == 5
        for customer in customers:
            record = await gw.runtime.store.get_xref(customer["id"])
            assert record is not None and record.document_in("cloud") is not None
        again = await _migrate(ops)
        assert (again["status"], again["done"], again["copied"]) == ("succeeded", 5, 0)
        assert len(cloud.customers) == 5  # a second run copies nothing


async def test_a_job_goes_on_with_the_configuration_a_reload_put_in_place(store: Store) -> None:
    # An operator raises the target's budget during a job; the reload replaces the target's
    # adapter (a new connection pool to the same ERP) and closes the old one a little later.
    # The job's later copies go through the new one: none fails on the retired adapter.
    async with in_process_gateway(store) as gw, gw.client() as api, gw.client("ops-admin") as ops:
        await _customers(api, "CA01", 40)  # five times what a job copies at once
        cloud = gw.erps["cloud"]
        cloud.delay_s = 0.2
        retired = _Closable(cloud)
        gw.serve(_with_adapter(gw.runtime, "cloud", retired))
        started = await ops.post("/admin/migrations", json={"legal_entity": "CA01", "to": "cloud"})
        assert started.status_code == 202, started.text
        await asyncio.sleep(0.05)  # the first copies are under way
        gw.serve(_with_adapter(gw.runtime, "cloud", cloud))  # the reload
        await asyncio.sleep(0.45)  # those under way finish; then the old adapter is closed
        retired.closed = True
        job = await _finished(ops, started.headers["location"])
    assert (job["status"], job["failed"]) == ("succeeded", 0), job["errors"]
    assert len(cloud.customers) == 40


class _Closable:
    """An adapter as a reload leaves it: it works until it is closed, then fails every call."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter
        self.closed = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if not callable(attribute):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.closed:
                raise ErpFailure(Code.ERP_UNAVAILABLE, "The ERP connection pool was shut down.")
            return await attribute(*args, **kwargs)

        return call


def _with_adapter(runtime: Any, backend: str, adapter: Any) -> Any:
    backends = dict(runtime.backends)
    backends[backend] = replace(backends[backend], adapter=adapter)
    return replace(runtime, backends=backends)


async def test_two_orders_at_once_copy_their_customer_to_the_other_erp_once(
    store: Store, tmp_path: Path
) -> None:
    # After a rollback (US01 back on the legacy ERP), two orders at once for a customer the
    # cloud ERP holds: the legacy ERP, like SAP, would take a second business partner with the
    # same gateway reference, so the two copies must not both search, find nothing and create.
    config = write_config(tmp_path)
    async with (
        in_process_gateway(store, config) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        assert len(gw.erps["cloud"].customers) == 1  # wave-1: US01 is on the cloud ERP
        routes = config / "routes.yaml"
        rolled_back = routes.read_text().replace(
            "legal_entities: [US01]}", "legal_entities: [CA01]}"
        )
        routes.write_text(rolled_back)
        assert (await ops.post("/admin/config/reload")).status_code == 200
        legacy = gw.erps["legacy"]
        legacy.delay_s = 0.05
        orders = await asyncio.gather(
            *(
                api.post(
                    "/v1/sales-orders",
                    json=payloads.order("US01", customer["id"]),
                    headers=payloads.new_key(),
                )
                for _ in range(2)
            )
        )
        assert [o.status_code for o in orders] == [201, 201], [o.text for o in orders]
    assert len(legacy.customers) == 1


async def test_a_dry_run_counts_what_would_move_and_copies_nothing(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api, gw.client("ops-admin") as ops:
        await _customers(api, "CA01", 3)
        job = await _migrate(ops, dry_run=True)
        assert (job["status"], job["total"], job["copied"]) == ("succeeded", 3, 3)
        assert not gw.erps["cloud"].customers


async def test_a_customer_the_target_refuses_is_reported_and_the_rest_move(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api, gw.client("ops-admin") as ops:
        good = await _customers(api, "CA01", 2)
        bad = (await _customers(api, "CA01", 1))[0]
        # The legacy ERP lost what the target needs of this one: it cannot be copied.
        legacy = gw.erps["legacy"]
        record = await gw.runtime.store.get_xref(bad["id"])
        assert record is not None
        legacy.customers[record.erp_id] = replace(
            legacy.customers[record.erp_id], payment_terms=None
        )
        job = await _migrate(ops)
        assert (job["status"], job["done"], job["failed"]) == ("failed", 2, 1)
        assert [e["record"] for e in job["errors"]] == [bad["id"]]
        assert "payment_terms" in job["errors"][0]["message"]
        assert len(gw.erps["cloud"].customers) == len(good)


async def test_a_customer_whose_copy_fails_unforeseen_is_reported_and_the_job_ends(
    store: Store,
) -> None:
    # The target holds another document under this customer's gateway reference (say, a copy
    # an earlier tool made by hand): a fact the adapters report, not a gateway problem. The
    # job records it against that customer, moves the rest and ends, never left "running" (to
    # be reported later as interrupted by a stopped process).
    async with in_process_gateway(store) as gw, gw.client() as api, gw.client("ops-admin") as ops:
        await _customers(api, "CA01", 2)
        cloud = gw.erps["cloud"]
        create = cloud.create_customer
        refused: list[str] = []

        async def holds_one_reference(*args: Any, **kwargs: Any) -> Any:
            if not refused:
                refused.append(kwargs.get("refs", args[1]).gateway_ref)
                raise GatewayReferenceTaken(refused[0])
            return await create(*args, **kwargs)

        cloud.create_customer = holds_one_reference  # type: ignore[method-assign]
        job = await _migrate(ops)
        assert (job["status"], job["done"], job["failed"]) == ("failed", 1, 1)
        assert len(job["errors"]) == 1 and job["errors"][0]["record"].startswith("cus_")
        assert len(cloud.customers) == 1


async def test_a_migration_to_an_erp_whose_breaker_is_open_sends_it_nothing(
    store: Store, tmp_path: Path
) -> None:
    # Breakers on (off in tests by default): two technical failures in a row open one.
    breakers = {"attempts": 1, "enabled": "true", "failures": 2, "cool_down_s": 30}
    config_dir = write_config(tmp_path, resilience=breakers)
    async with (
        in_process_gateway(store, config_dir) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        customers = await _customers(api, "CA01", 3)
        cloud = gw.erps["cloud"]
        cloud.down = True
        for _ in range(2):  # clients' requests fail at the cloud ERP: its breaker opens
            failed = await api.post("/v1/customers", json=payloads.customer("US01"))
            assert failed.status_code == 503, failed.text
        assert gw.runtime.backends["cloud"].breaker.view().state is BreakerState.OPEN
        cloud.calls.clear()

        job = await _migrate(ops)

    assert cloud.calls == []  # the failing ERP left alone
    assert (job["status"], job["done"], job["failed"], job["copied"]) == ("failed", 0, 3, 0)
    assert {error["record"] for error in job["errors"]} == {c["id"] for c in customers}
    for error in job["errors"]:
        assert "run the job again" in error["message"].lower(), error


async def test_a_migration_to_an_unknown_backend_or_legal_entity_is_400(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        bad_backend = await ops.post(
            "/admin/migrations", json={"legal_entity": "CA01", "to": "sap"}
        )
        assert bad_backend.status_code == 400
        assert bad_backend.json()["errors"][0]["pointer"] == "/to"
        bad_entity = await ops.post(
            "/admin/migrations", json={"legal_entity": "XX01", "to": "cloud"}
        )
        assert bad_entity.status_code == 400
        unknown = await ops.get("/admin/migrations/mig_nope")
        assert unknown.status_code == 404


async def test_migrations_need_the_admin_scope(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as demo:
        refused = await demo.post("/admin/migrations", json={"legal_entity": "CA01", "to": "cloud"})
        assert refused.status_code == 403


# -- the ID cross-reference as CSV ----------------------------------------------------------


def _record(n: int) -> XrefRecord:
    return XrefRecord(
        gateway_id=f"so_bulk{n}",
        kind=Kind.SALES_ORDER,
        legal_entity="CA01",
        client_id="crm-demo",
        backend="legacy",
        erp_id=str(1_000_000 + n),
        erp_document_number=str(1_000_000 + n),
        gateway_ref=f"gw-{n:026d}",
    )


def _mappings(count: int, bad: dict[int, dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["kind", "gateway_id", "source_backend", "source_erp_id", "target_backend",
         "target_erp_id", "target_document_number"]
    )  # fmt: skip
    for n in range(count):
        row = {
            "kind": "sales_order",
            "gateway_id": "",
            "source_backend": "legacy",
            "source_erp_id": str(1_000_000 + n),
            "target_backend": "cloud",
            "target_erp_id": str(5_000_000 + n),
            "target_document_number": f"SO{5_000_000 + n}",
            **bad.get(n, {}),
        }
        writer.writerow(row.values())
    return buffer.getvalue()


async def _import(ops: httpx.AsyncClient, text: str, dry_run: bool) -> dict[str, Any]:
    response = await ops.post(
        "/admin/xref/import",
        content=text.encode(),
        params={"dry_run": str(dry_run).lower()},
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_ten_thousand_mappings_with_three_bad_rows_bind_the_rest(store: Store) -> None:
    count = 10_000
    for n in range(count):
        await store.put_xref(_record(n))
    # Row n is on line n + 2 (the header is line 1).
    bad = {
        17: {"target_backend": "oracle"},  # not a backend
        4321: {"source_erp_id": "999"},  # no such order
        9000: {"target_erp_id": str(5_000_000 + 18)},  # a target row 18 (line 20) binds too
    }
    text = _mappings(count, bad)
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        started = time.monotonic()
        dry = await _import(ops, text, dry_run=True)
        assert (dry["rows"], dry["valid"], dry["bound"]) == (count, count - 3, 0)
        assert [e["line"] for e in dry["errors"]] == [19, 4323, 9002]
        assert "oracle" in dry["errors"][0]["message"]
        assert "no sales_order legacy 999" in dry["errors"][1]["message"]
        assert "also on line 20" in dry["errors"][2]["message"]
        assert (await store.get_xref("so_bulk0")) == _record(0)  # nothing bound by a dry run
        done = await _import(ops, text, dry_run=False)
        took = time.monotonic() - started
        assert (done["valid"], done["bound"]) == (count - 3, count - 3)
        moved = await store.get_xref("so_bulk0")
        assert moved is not None and (moved.backend, moved.erp_id) == ("cloud", "5000000")
        unmoved = await store.get_xref("so_bulk17")
        assert unmoved is not None and unmoved.backend == "legacy"
        assert took < 30  # "a few seconds" on a quiet machine; generous for a loaded CI one


async def test_an_import_error_names_the_line_its_row_starts_on(store: Store) -> None:
    # A blank line, and a quoted field spanning two lines, above a bad row do not shift the
    # line reported for it; a row spanning lines is reported at its first.
    header = _mappings(0, {})
    text = (
        header  # line 1
        + "\n"  # line 2: blank
        + 'sales_order,,legacy,"1\n2",cloud,77,SO77\n'  # lines 3-4: no such order
        + "sales_order,,legacy,5,oracle,78,SO78\n"  # line 5: oracle is not a backend
    )
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        report = await _import(ops, text, dry_run=True)
    assert [e["line"] for e in report["errors"]] == [3, 5], report["errors"]
    assert "no sales_order legacy" in report["errors"][0]["message"]
    assert "oracle" in report["errors"][1]["message"]


async def test_a_moved_order_is_read_at_its_new_home(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api, gw.client("ops-admin") as ops:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        order = await api.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", customer["id"]),
            headers=payloads.new_key(),
        )
        legacy, cloud = gw.erps["legacy"], gw.erps["cloud"]
        (erp_order,) = legacy.orders.values()
        cloud.orders["77"] = erp_order  # the migration programme moved it (as order 77)
        text = (
            "kind,gateway_id,source_backend,source_erp_id,target_backend,target_erp_id,"
            f"target_document_number\nsales_order,{order.json()['id']},,,cloud,77,SO77\n"
        )
        report = await _import(ops, text, dry_run=False)
        assert report["bound"] == 1, report
        legacy.calls.clear()
        read = await api.get(f"/v1/sales-orders/{order.json()['id']}")
        assert read.status_code == 200
        assert cloud.calls == ["get_sales_order"] and legacy.calls == []


async def test_the_export_lists_every_document_of_a_legal_entitys_records(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client() as api, gw.client("ops-admin") as ops:
        customers = await _customers(api, "CA01", 2)
        await _migrate(ops)
        await _customers(api, "DE01", 1)
        response = await ops.get("/admin/xref/export", params={"legal_entity": "CA01"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert {r["gateway_id"] for r in rows} == {c["id"] for c in customers}
        assert sorted((r["backend"], r["home"]) for r in rows) == [
            ("cloud", "false"),
            ("cloud", "false"),
            ("legacy", "true"),
            ("legacy", "true"),
        ]


async def test_routes_are_explained_over_http(store: Store) -> None:
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        response = await ops.post(
            "/admin/routes/explain",
            json={"operation": "sales_orders.create", "legal_entity": "US01"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["decision"]["backend"] == "cloud" and body["decision"]["rule"] == "wave-1"
        assert body["rules"][0]["verdict"] == "MATCH"
        assert "Decision: cloud" in body["text"]
        bad = await ops.post(
            "/admin/routes/explain", json={"operation": "orders.create", "legal_entity": "US01"}
        )
        assert bad.status_code == 400

"""Shadow traffic through the pipeline, on fake ERPs: the client's answer is the primary's
whatever the shadow does; a full concurrency cap skips and counts; a slow or failing shadow is
counted as failed; sampling follows the correlation id; a noise check calls the primary twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from gateway.adapters.priority import background_work
from gateway.config.loader import check_config, load_config
from gateway.domain.models import HoldReason, SalesOrderStatus
from gateway.routing.affinity import bucket_of, customer_bucket
from gateway.routing.shadow_report import shadow_report
from gateway.routing.shadows import sampled
from gateway.runtime import build_runtime
from gateway.service.shadow import Shadowing
from gateway.store.base import Binding, ErpDocument, Store
from gateway.store.memory import MemoryStore
from tests.configs import WIDE_RATE_LIMITS, write_config
from tests.conftest import Clock
from tests.e2e import payloads
from tests.harness import ENV, Gateway, erp_calls_timed, in_process_gateway
from tests.pipeline.test_idempotency import (
    COMMIT_WINDOW_S,
    LEASE_S,
    SHORT_DEADLINE_S,
    SHORT_LEASE,
    _FirstBind,
)

CAP = 2


def shadow_config(tmp_path: Path, sample: float = 1.0, **shadow: object) -> Path:
    config = write_config(tmp_path, rate_limits=WIDE_RATE_LIMITS)
    settings = {"max_in_flight": CAP, "noise_sample": 0, **shadow}
    extra = "".join(f", {key}: {value}" for key, value in settings.items())
    rules = f"""  - id: de01-orders-cloud
    match: {{legal_entities: [DE01], operations: ["sales_orders.*"]}}
    backend: cloud
  - id: de01-shadowed
    match: {{legal_entities: [DE01]}}
    backend: legacy
    shadow: {{backend: cloud, sample: {sample}, operations: [customers.read]{extra}}}
"""
    routes = config / "routes.yaml"
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rules, 1))
    return config


async def _customer_in_both(api: httpx.AsyncClient) -> dict[str, Any]:
    """A DE01 customer, created in the legacy ERP and copied to the cloud by its first order."""
    customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
    order = await api.post(
        "/v1/sales-orders", json=payloads.order("DE01", customer["id"]), headers=payloads.new_key()
    )
    assert order.status_code == 201, order.text
    return dict(customer)


def _shadowing(gw: Gateway) -> Shadowing:
    shadowing = gw.app.state.serving.shadowing
    assert isinstance(shadowing, Shadowing)
    return shadowing


async def _report(gw: Gateway) -> dict[str, Any]:
    await _shadowing(gw).flush()
    [scope] = shadow_report(*await gw.runtime.store.shadow.read())
    return scope.to_json()


def _blocked(gw: Gateway, gate: asyncio.Event) -> list[str]:
    """Make the cloud ERP's customer reads wait for `gate`; the ids it was asked for."""
    cloud = gw.erps["cloud"]
    real = cloud.get_customer
    asked: list[str] = []

    async def get_customer(erp_id: str, ctx: Any) -> Any:
        asked.append(erp_id)
        await gate.wait()
        return await real(erp_id, ctx)

    cloud.get_customer = get_customer  # type: ignore[method-assign]
    return asked


async def test_a_full_cap_skips_samples_and_never_delays_or_changes_the_answer(
    tmp_path: Path,
) -> None:
    async with (
        in_process_gateway(MemoryStore(), shadow_config(tmp_path)) as gw,
        gw.client() as api,
    ):
        customer = await _customer_in_both(api)
        gate = asyncio.Event()
        asked = _blocked(gw, gate)
        reads = [await api.get(f"/v1/customers/{customer['id']}") for _ in range(5)]
        # every answer came while the shadow calls were still held: off the request path
        assert [r.status_code for r in reads] == [200] * 5
        assert all(r.json() == reads[0].json() for r in reads)
        assert reads[0].json()["email"] == customer["email"]
        gate.set()
        report = await _report(gw)
    assert len(asked) == CAP  # the skipped samples asked nothing of the shadow backend
    assert (report["samples"], report["skipped"], report["comparable"]) == (5, 5 - CAP, CAP)
    assert report["matches"] == CAP


async def test_a_shadow_past_its_timeout_counts_as_failed(tmp_path: Path) -> None:
    async with (
        in_process_gateway(MemoryStore(), shadow_config(tmp_path, timeout_s=0.05)) as gw,
        gw.client() as api,
    ):
        customer = await _customer_in_both(api)
        _blocked(gw, asyncio.Event())  # never answers
        read = await api.get(f"/v1/customers/{customer['id']}")
        report = await _report(gw)
    assert read.status_code == 200 and read.json()["email"] == customer["email"]
    assert (report["samples"], report["failed"], report["comparable"]) == (1, 1, 0)


async def test_a_shadow_that_raises_never_reaches_the_client(tmp_path: Path) -> None:
    async with (
        in_process_gateway(MemoryStore(), shadow_config(tmp_path)) as gw,
        gw.client() as api,
    ):
        customer = await _customer_in_both(api)

        async def broken(erp_id: str, ctx: Any) -> Any:
            raise RuntimeError("a bug in the shadow backend's adapter")

        gw.erps["cloud"].get_customer = broken  # type: ignore[method-assign]
        read = await api.get(f"/v1/customers/{customer['id']}")
        report = await _report(gw)
    assert read.status_code == 200 and read.json()["email"] == customer["email"]
    assert (report["samples"], report["failed"]) == (1, 1)


async def test_the_report_counts_the_distinct_customers_compared_beside_the_samples(
    tmp_path: Path,
) -> None:
    async with (
        in_process_gateway(MemoryStore(), shadow_config(tmp_path, max_in_flight=100)) as gw,
        gw.client() as api,
    ):
        often, once = await _customer_in_both(api), await _customer_in_both(api)
        legacy_only = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        for customer in (often, often, often, often, once, legacy_only):
            read = await api.get(f"/v1/customers/{customer['id']}")
            assert read.status_code == 200, read.text
        report = await _report(gw)
    # five comparable samples, but of two customers: four reads of one are not four customers
    assert (report["comparable"], report["not_comparable"]) == (5, 1)
    assert report["distinct_records"] == 2


async def test_the_report_calls_evidence_enough_only_past_its_rules_bar(tmp_path: Path) -> None:
    config = shadow_config(tmp_path, max_in_flight=100, min_comparable=3, min_records=2)
    async with (
        in_process_gateway(MemoryStore(), config) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        first, second = await _customer_in_both(api), await _customer_in_both(api)
        verdicts = []
        for customer in (first, first, first, second):
            assert (await api.get(f"/v1/customers/{customer['id']}")).status_code == 200
            await _shadowing(gw).flush()
            [scope] = (await ops.get("/admin/shadow/report")).json()["scopes"]
            verdicts.append((scope["comparable"], scope["distinct_records"], scope["evidence"]))
    assert (scope["min_comparable"], scope["min_records"]) == (3, 2)
    # three samples of one customer match as well as any, but are one customer's evidence
    assert verdicts == [
        (1, 1, "not_enough"),
        (2, 1, "not_enough"),
        (3, 1, "not_enough"),
        (4, 2, "enough"),
    ]


def test_check_refuses_an_evidence_bar_of_no_samples_at_its_line(tmp_path: Path) -> None:
    config = shadow_config(tmp_path, min_records=0)
    [issue] = [i for i in check_config(config, env=ENV) if i.severity == "error"]
    assert issue.file == "routes.yaml" and "min_records" in issue.message
    assert "greater than or equal to 1" in issue.message
    assert issue.line is not None
    line = (config / "routes.yaml").read_text().splitlines()[issue.line - 1]
    assert "min_records: 0" in line


async def test_a_record_in_one_erp_only_is_not_comparable(tmp_path: Path) -> None:
    async with (
        in_process_gateway(MemoryStore(), shadow_config(tmp_path)) as gw,
        gw.client() as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        read = await api.get(f"/v1/customers/{customer['id']}")
        report = await _report(gw)
    assert read.status_code == 200
    assert (report["samples"], report["not_comparable"], report["comparable"]) == (1, 1, 0)
    assert gw.erps["cloud"].calls == []  # nothing asked of the shadow backend


async def test_the_sample_is_the_correlation_ids_and_differences_are_found(
    tmp_path: Path,
) -> None:
    async with (
        in_process_gateway(MemoryStore(), shadow_config(tmp_path, 0.5, max_in_flight=100)) as gw,
        gw.client() as api,
    ):
        customer = await _customer_in_both(api)
        cloud = gw.erps["cloud"]
        [(erp_id, copy)] = cloud.customers.items()
        cloud.customers[erp_id] = dataclasses.replace(copy, email="other@acme.example")
        ids = [f"corr-{n}" for n in range(20)]
        for correlation_id in ids:
            read = await api.get(
                f"/v1/customers/{customer['id']}", headers={"X-Correlation-ID": correlation_id}
            )
            assert read.json()["email"] == customer["email"]
        report = await _report(gw)
    expected = sum(sampled(i, 0.5) for i in ids)
    assert 0 < expected < len(ids)
    assert (report["samples"], report["comparable"], report["matches"]) == (expected, expected, 0)
    assert [(d["field"], d["count"]) for d in report["differences"]] == [("email", expected)]


async def test_a_shadow_call_is_timed_as_one_of_the_shadows(tmp_path: Path) -> None:
    # Through the ERP's one judged path: its breaker, and the call metric an operator reads
    # the ERP's load from (shadow calls were in neither's count).
    async with (
        in_process_gateway(MemoryStore(), shadow_config(tmp_path)) as gw,
        gw.client() as api,
    ):
        customer = await _customer_in_both(api)
        before = erp_calls_timed("cloud", "get_customer", "ok", "shadow")
        assert (await api.get(f"/v1/customers/{customer['id']}")).status_code == 200
        report = await _report(gw)
    assert report["comparable"] == 1
    assert erp_calls_timed("cloud", "get_customer", "ok", "shadow") == before + 1


async def test_a_noise_check_reads_the_primary_twice(tmp_path: Path) -> None:
    async with (
        in_process_gateway(MemoryStore(), shadow_config(tmp_path, noise_sample=1)) as gw,
        gw.client() as api,
    ):
        customer = await _customer_in_both(api)
        legacy = gw.erps["legacy"]
        before = legacy.calls.count("get_customer")
        await api.get(f"/v1/customers/{customer['id']}")
        report = await _report(gw)
    assert legacy.calls.count("get_customer") - before == 2  # the client's read, and the check
    assert (report["noise_checks"], report["noise"], report["matches"]) == (1, [], 1)


def _in_flight(legacy: int, cloud: int) -> str:
    """rate-limits.yaml: wide rates, and this many ERP calls in flight at once per ERP."""
    return f"""
tiers:
  standard: {{rate_per_s: 1000, burst: 2000}}
backends:
  legacy: {{max_rps: 5000, max_in_flight: {legacy}}}
  cloud: {{max_rps: 5000, max_in_flight: {cloud}}}
"""


async def test_a_noise_check_leaves_the_primarys_last_slot_to_a_client(tmp_path: Path) -> None:
    config = shadow_config(tmp_path, noise_sample=1)
    (config / "policies" / "rate-limits.yaml").write_text(_in_flight(legacy=1, cloud=200))
    async with in_process_gateway(MemoryStore(), config) as gw, gw.client() as api:
        customer = await _customer_in_both(api)
        legacy = gw.erps["legacy"]
        real = legacy.get_customer
        gate, noise_asked = asyncio.Event(), asyncio.Event()

        async def get_customer(erp_id: str, ctx: Any) -> Any:
            if background_work.get():  # the noise check: an ERP slow to answer it
                noise_asked.set()
                await gate.wait()
            return await real(erp_id, ctx)

        legacy.get_customer = get_customer  # type: ignore[method-assign]
        answered = asyncio.Event()
        _blocked(gw, answered)  # the shadow ERP answers once the client has its answer
        first = await api.get(f"/v1/customers/{customer['id']}")
        await gw.runtime.releases.flush()  # its slot back now, not within 5 ms
        answered.set()
        samples = asyncio.create_task(_shadowing(gw).flush())
        asked = asyncio.create_task(noise_asked.wait())
        await asyncio.wait([samples, asked], timeout=5, return_when=asyncio.FIRST_COMPLETED)
        second = await api.get(f"/v1/customers/{customer['id']}")  # meanwhile
        gate.set()
        await samples
        asked.cancel()
        report = await _report(gw)
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert not noise_asked.is_set()  # the one slot is the clients'
    assert (report["comparable"], report["noise_checks"], report["noise_skipped"]) == (2, 0, 2)


async def test_a_sample_is_skipped_while_the_shadow_erp_has_no_room_beside_its_clients(
    tmp_path: Path,
) -> None:
    config = shadow_config(tmp_path)
    (config / "policies" / "rate-limits.yaml").write_text(_in_flight(legacy=200, cloud=1))
    async with in_process_gateway(MemoryStore(), config) as gw, gw.client() as api:
        customer = await _customer_in_both(api)
        cloud = gw.erps["cloud"]
        before = list(cloud.calls)
        read = await api.get(f"/v1/customers/{customer['id']}")
        report = await _report(gw)
    assert read.status_code == 200
    assert (report["samples"], report["skipped"], report["comparable"]) == (1, 1, 0)
    assert cloud.calls == before  # its one slot is its clients' (a canary's customers)


def _quotes_shadowed(tmp_path: Path) -> Path:
    """FR01's quotes on the legacy ERP, shadowed to the cloud; DE01's orders on the cloud."""
    config = write_config(tmp_path, rate_limits=WIDE_RATE_LIMITS)
    rules = """  - id: de01-orders-cloud
    match: {legal_entities: [DE01], operations: ["sales_orders.*"]}
    backend: cloud
  - id: fr01-quotes-shadowed
    match: {legal_entities: [FR01], operations: [quotes.validate]}
    backend: legacy
    shadow: {backend: cloud, sample: 1.0, noise_sample: 0, operations: [quotes.validate]}
"""
    routes = config / "routes.yaml"
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rules, 1))
    return config


async def test_a_refusal_the_gateway_makes_itself_is_not_shadowed(tmp_path: Path) -> None:
    async with (
        in_process_gateway(MemoryStore(), _quotes_shadowed(tmp_path)) as gw,
        gw.client() as api,
    ):
        customer = await _customer_in_both(api)  # a DE01 customer
        cloud = gw.erps["cloud"]
        before = list(cloud.calls)
        quote = await api.post(
            "/v1/quotes/validate",
            json={
                "legal_entity": "FR01",
                "customer_id": customer["id"],
                "currency": "EUR",
                "lines": [{"sku": "WIDGET-1", "quantity": 1, "unit_price": "19.99"}],
            },
        )
        await _shadowing(gw).flush()
        read = await gw.runtime.store.shadow.read()
    assert quote.status_code == 422 and quote.json()["code"] == "customer_legal_entity_mismatch"
    # the same refusal whichever ERP is primary: no evidence either way, nothing asked
    assert shadow_report(*read) == []
    assert cloud.calls == before


def _checked(tmp_path: Path, rule: str, sandbox: bool = False) -> list[tuple[str, int | None, str]]:
    tmp_path.mkdir(exist_ok=True)
    config = write_config(tmp_path)
    if sandbox:
        text = (config / "backends" / "cloud.yaml").read_text()
        (config / "backends" / "cloud-sandbox.yaml").write_text(text + "sandbox: true\n")
    routes = config / "routes.yaml"
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    issues = check_config(config, env=ENV)
    return [(i.file, i.line, i.message) for i in issues if i.severity == "error"]


def _shadowing_rule(backend: str, target: str, operations: str) -> str:
    return f"""  - id: fr01-shadowed
    match: {{legal_entities: [FR01]}}
    backend: {backend}
    shadow:
      backend: {target}
      sample: 0.25
      operations: [{operations}]
"""


def test_check_refuses_shadow_writes_into_a_production_backend_at_their_line(
    tmp_path: Path,
) -> None:
    issues = _checked(tmp_path, _shadowing_rule("legacy", "cloud", "sales_orders.create"))
    assert issues == [
        (
            "routes.yaml",
            issues[0][1],
            "would shadow sales_orders.create into production backend cloud: only the legacy "
            "ERP's sales-order simulation or a backend marked `sandbox: true` in "
            "backends/cloud.yaml is free of side effects",
        )
    ]
    line = issues[0][1]
    assert line is not None
    routes = (tmp_path / "routes.yaml").read_text().splitlines()
    assert "operations: [sales_orders.create]" in routes[line - 1]


def test_check_accepts_shadow_writes_through_the_simulation_or_into_a_sandbox(
    tmp_path: Path,
) -> None:
    simulated = _shadowing_rule("cloud", "legacy", "sales_orders.create")
    assert _checked(tmp_path / "simulation", simulated) == []
    sandboxed = _shadowing_rule("legacy", "cloud-sandbox", "sales_orders.create")
    assert _checked(tmp_path / "sandbox", sandboxed, sandbox=True) == []


def test_check_refuses_a_shadow_into_its_own_backend_and_writes_with_no_safe_path(
    tmp_path: Path,
) -> None:
    rule = _shadowing_rule("legacy", "legacy", "customers.create, sales_orders.cancel")
    messages = [message for _, _, message in _checked(tmp_path, rule)]
    assert len(messages) == 3
    assert messages[0].startswith("rule fr01-shadowed already sends its requests to legacy")
    assert messages[1].startswith("customers.create cannot be shadowed")
    assert messages[2].startswith("sales_orders.cancel cannot be shadowed")


async def test_a_create_shadowed_into_a_sandbox_creates_there_and_nowhere_else(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, rate_limits=WIDE_RATE_LIMITS)
    cloud = (config / "backends" / "cloud.yaml").read_text()
    (config / "backends" / "cloud-sandbox.yaml").write_text(cloud + "sandbox: true\n")
    routes = config / "routes.yaml"
    rule = _shadowing_rule("legacy", "cloud-sandbox", "sales_orders.create")
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    async with in_process_gateway(MemoryStore(), config) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("FR01"))).json()
        # the customer as the sandbox holds it (a refreshed sandbox, bound by xref import)
        sandbox = gw.erps["cloud-sandbox"]
        [created] = gw.erps["legacy"].customers.values()
        sandbox.customers["77"] = created
        await gw.runtime.store.bind_documents(
            [Binding(customer["id"], ErpDocument("cloud-sandbox", "77", "C77"))]
        )
        ids = [f"create-{n}" for n in range(8)]
        sampled_ids = [i for i in ids if sampled(i, 0.25)]
        for correlation_id in ids:
            order = await api.post(
                "/v1/sales-orders",
                json=payloads.order("FR01", customer["id"]),
                headers={**payloads.new_key(), "X-Correlation-ID": correlation_id},
            )
            assert order.status_code == 201, order.text
        report = await _report(gw)
    assert len(gw.erps["legacy"].orders) == len(ids)  # the client's orders, in the primary
    assert len(sandbox.orders) == len(sampled_ids) > 0  # the shadows, in the sandbox only
    assert gw.erps["cloud"].orders == {}
    assert (report["samples"], report["comparable"]) == (len(sampled_ids), len(sampled_ids))
    assert report["matches"] == len(sampled_ids)


async def test_a_delivery_block_is_not_a_credit_hold_in_a_creates_decision(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, rate_limits=WIDE_RATE_LIMITS)
    cloud = (config / "backends" / "cloud.yaml").read_text()
    (config / "backends" / "cloud-sandbox.yaml").write_text(cloud + "sandbox: true\n")
    routes = config / "routes.yaml"
    rule = _shadowing_rule("legacy", "cloud-sandbox", "sales_orders.create")
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    async with in_process_gateway(MemoryStore(), config) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("FR01"))).json()
        legacy, sandbox = gw.erps["legacy"], gw.erps["cloud-sandbox"]
        [created] = legacy.customers.values()
        sandbox.customers["77"] = created
        await gw.runtime.store.bind_documents(
            [Binding(customer["id"], ErpDocument("cloud-sandbox", "77", "C77"))]
        )
        blocked: list[Any] = []  # the ERP that puts the next order on a delivery block

        def delivery_blocked(erp: Any) -> None:
            real = erp.create_sales_order

            async def create(*args: Any) -> Any:
                order = await real(*args)
                if erp not in blocked:
                    return order
                on_hold = SalesOrderStatus.ON_HOLD
                return dataclasses.replace(order, status=on_hold, hold_reason=HoldReason.DELIVERY)

            erp.create_sales_order = create

        delivery_blocked(legacy)
        delivery_blocked(sandbox)
        ids = [i for i in (f"hold-{n}" for n in range(40)) if sampled(i, 0.25)][:2]
        answers = []
        for erp, correlation_id in zip((legacy, sandbox), ids, strict=True):
            blocked[:] = [erp]  # the primary's order blocked, then the sandbox's
            order = await api.post(
                "/v1/sales-orders",
                json=payloads.order("FR01", customer["id"]),
                headers={**payloads.new_key(), "X-Correlation-ID": correlation_id},
            )
            answers.append((order.status_code, order.json().get("hold_reason")))
            await _shadowing(gw).flush()  # its sample done before the next order
        report = await _report(gw)
    assert answers == [(201, "delivery"), (201, None)]
    # neither ERP held either order for credit: the decisions agree
    assert (report["comparable"], report["matches"], report["differences"]) == (2, 2, [])


def _refs_on_both_sides(count: int) -> list[str]:
    """`count` fixed external_refs, half in a 50 % split's first share (buckets below 5000) and
    half in the second: random refs put all 12 customers on one side once in 2,048 runs."""
    first: list[str] = []
    second: list[str] = []
    n = 0
    while len(first) + len(second) < 2 * (count // 2):
        ref = f"CRM-ACC-SHARE-{n}"
        side = first if bucket_of(ref) < 5000 else second
        if len(side) < count // 2:
            side.append(ref)
        n += 1
    return [ref for pair in zip(first, second, strict=True) for ref in pair]


async def test_a_canary_share_on_the_cloud_erp_is_not_compared_with_its_sandbox(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, rate_limits=WIDE_RATE_LIMITS)
    cloud = (config / "backends" / "cloud.yaml").read_text()
    (config / "backends" / "cloud-sandbox.yaml").write_text(cloud + "sandbox: true\n")
    rule = """  - id: fr01-canary
    match: {legal_entities: [FR01]}
    split: {cloud: 50, legacy: 50}
    shadow:
      backend: cloud-sandbox
      sample: 1.0
      max_in_flight: 100
      operations: [sales_orders.create]
"""
    routes = config / "routes.yaml"
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    async with in_process_gateway(MemoryStore(), config) as gw, gw.client() as api:
        sandbox = gw.erps["cloud-sandbox"]
        on_cloud = 0
        for n, ref in enumerate(_refs_on_both_sides(12)):
            body = payloads.customer("FR01", external_ref=ref)
            customer = (await api.post("/v1/customers", json=body)).json()
            record = await gw.runtime.store.get_xref(customer["id"])
            assert record is not None
            sandbox.customers[f"s{n}"] = gw.erps[record.backend].customers[record.erp_id]
            await gw.runtime.store.bind_documents(
                [Binding(customer["id"], ErpDocument("cloud-sandbox", f"s{n}", f"S{n}"))]
            )
            order = await api.post(
                "/v1/sales-orders",
                json=payloads.order("FR01", customer["id"]),
                headers=payloads.new_key(),
            )
            assert order.status_code == 201, order.text
            on_cloud += customer_bucket(customer["id"]) < 5000  # cloud's 50 %, sticky
        report = await _report(gw)
    assert on_cloud == 6  # the refs' buckets, read back from the ids the gateway made
    # the cloud ERP compared with its own sandbox is no evidence: only the legacy share counts
    assert (report["comparable"], report["not_comparable"]) == (12 - on_cloud, on_cloud)
    assert len(sandbox.orders) == 12 - on_cloud


async def _sandboxed_creates(
    tmp_path: Path, correlation_ids: list[str], taken: bool
) -> dict[str, Any]:
    """FR01's creates on the legacy ERP, every one shadowed into a cloud sandbox that holds one
    document per gateway reference (NetSuite's externalId) or, if `taken`, every reference
    already: the report once each create was sent with its correlation id."""
    config = write_config(tmp_path, rate_limits=WIDE_RATE_LIMITS)
    cloud = (config / "backends" / "cloud.yaml").read_text()
    (config / "backends" / "cloud-sandbox.yaml").write_text(cloud + "sandbox: true\n")
    routes = config / "routes.yaml"
    rule = _shadowing_rule("legacy", "cloud-sandbox", "sales_orders.create")
    rule = rule.replace("sample: 0.25", "sample: 1.0")
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    async with in_process_gateway(MemoryStore(), config) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("FR01"))).json()
        sandbox = gw.erps["cloud-sandbox"]
        [created] = gw.erps["legacy"].customers.values()
        sandbox.customers["77"] = created
        await gw.runtime.store.bind_documents(
            [Binding(customer["id"], ErpDocument("cloud-sandbox", "77", "C77"))]
        )
        real = sandbox.create_sales_order

        async def create_once_per_reference(*args: Any) -> Any:
            if taken:
                sandbox.taken_references.add(args[5].gateway_ref)
            order = await real(*args)
            sandbox.taken_references.add(args[5].gateway_ref)
            return order

        sandbox.create_sales_order = create_once_per_reference
        for correlation_id in correlation_ids:
            order = await api.post(
                "/v1/sales-orders",
                json=payloads.order("FR01", customer["id"]),
                headers={**payloads.new_key(), "X-Correlation-ID": correlation_id},
            )
            assert order.status_code == 201, order.text
        return await _report(gw)


async def test_two_creates_sharing_a_client_correlation_id_are_both_compared_in_a_sandbox(
    tmp_path: Path,
) -> None:
    # a CRM often sends one correlation id per business flow, not per request
    report = await _sandboxed_creates(tmp_path, ["crm-flow-4711", "crm-flow-4711"], taken=False)
    assert (report["samples"], report["failed"], report["comparable"]) == (2, 0, 2)


async def test_a_sandbox_reference_already_taken_fails_the_sample_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.shadow"):
        report = await _sandboxed_creates(tmp_path, ["crm-flow-4712"], taken=True)
    assert (report["samples"], report["failed"]) == (1, 1)
    [failed] = [r for r in caplog.records if r.message == "shadow sample failed"]
    assert failed.exc_info is None and failed.levelno == logging.INFO


async def test_a_sample_under_way_at_a_reload_is_still_counted(tmp_path: Path) -> None:
    config = shadow_config(tmp_path)
    async with in_process_gateway(MemoryStore(), config) as gw, gw.client() as api:
        customer = await _customer_in_both(api)
        gate = asyncio.Event()
        _blocked(gw, gate)
        read = await api.get(f"/v1/customers/{customer['id']}")
        replaced = _shadowing(gw)
        reloaded = build_runtime(load_config(config, env=ENV), gw.runtime.store, ENV, gw.erps)
        gw.serve(reloaded)
        gate.set()
        assert replaced.retiring is not None
        await replaced.retiring  # its sample finished and was written, its writer stopped
        counters = (await gw.runtime.store.shadow.read()).counters
    assert read.status_code == 200
    assert counters == {"DE01|customers.read": {"samples": 1, "comparable": 1, "sig:": 1}}


def test_check_warns_of_a_shadow_of_operations_its_rule_does_not_match(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    config = write_config(tmp_path)
    rule = """  - id: fr01-orders
    match: {legal_entities: [FR01], operations: ["sales_orders.*"]}
    backend: legacy
    shadow: {backend: cloud, sample: 0.5, operations: [customers.read]}
"""
    routes = config / "routes.yaml"
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    issues = [i for i in check_config(config, env=ENV) if i.file == "routes.yaml"]
    assert [(i.severity, i.message) for i in issues] == [
        (
            "warning",
            "rule fr01-orders matches none of the operations its shadow names: nothing is shadowed",
        )
    ]


def _two_sap_systems(tmp_path: Path) -> Path:
    """DE01 on the legacy SAP ERP, its customer reads shadowed into a second SAP system (an
    S/4HANA beside the ECC): two ERPs of one kind."""
    config = write_config(tmp_path, rate_limits=WIDE_RATE_LIMITS)
    legacy = (config / "backends" / "legacy.yaml").read_text()
    (config / "backends" / "s4.yaml").write_text(legacy)
    rule = """  - id: de01-shadowed
    match: {legal_entities: [DE01]}
    backend: legacy
    shadow: {backend: s4, sample: 1.0, operations: [customers.read], noise_sample: 0}
"""
    routes = config / "routes.yaml"
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    return config


async def test_two_erps_of_one_kind_are_compared(tmp_path: Path) -> None:
    """An SAP ECC moving to S/4HANA: both `sap-odata-v2`, yet two ERPs; a read of a customer
    both hold is compared (backends of one kind counted as one ERP, never compared)."""
    async with (
        in_process_gateway(MemoryStore(), _two_sap_systems(tmp_path)) as gw,
        gw.client() as api,
    ):
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        [created] = gw.erps["legacy"].customers.values()
        gw.erps["s4"].customers["S4-1"] = created
        await gw.runtime.store.bind_documents(
            [Binding(customer["id"], ErpDocument("s4", "S4-1", "S4-1"))]
        )
        read = await api.get(f"/v1/customers/{customer['id']}")
        report = await _report(gw)
    assert read.status_code == 200
    assert (report["samples"], report["comparable"], report["matches"]) == (1, 1, 1)
    assert any("customer" in call for call in gw.erps["s4"].calls)  # asked of the S/4


def test_a_sandbox_names_its_production_backend_when_its_kind_has_several(
    tmp_path: Path,
) -> None:
    config = _two_sap_systems(tmp_path)
    legacy = (config / "backends" / "legacy.yaml").read_text()
    sandbox = config / "backends" / "s4-sandbox.yaml"
    sandbox.write_text(legacy + "sandbox: true\n")
    errors = [i for i in check_config(config, env=ENV) if i.severity == "error"]
    assert [(i.file, i.message) for i in errors] == [
        (
            "backends/s4-sandbox.yaml",
            "a sandbox of kind sap-odata-v2, which legacy, s4 all are: name the production "
            "backend it belongs to with `system:`, or shadow compares may compare that ERP "
            "with its own sandbox",
        )
    ]
    assert errors[0].line == len(legacy.splitlines()) + 1
    sandbox.write_text(legacy + "sandbox: true\nsystem: s4\n")
    assert [i for i in check_config(config, env=ENV) if i.severity == "error"] == []
    sandbox.write_text(legacy + "sandbox: true\nsystem: s5\n")
    [error] = [i for i in check_config(config, env=ENV) if i.severity == "error"]
    assert error.message.startswith("unknown backend 's5'")
    (config / "backends" / "s4.yaml").write_text(legacy + "system: legacy\n")
    sandbox.write_text(legacy + "sandbox: true\nsystem: s4\n")
    [error] = [i for i in check_config(config, env=ENV) if i.severity == "error"]
    assert error.message == "s4 reaches the ERP of legacy: name legacy itself"


def _creates_into_a_sandbox(tmp_path: Path, **policies: str) -> Path:
    """FR01 on the legacy ERP, every create shadowed into a cloud sandbox account."""
    config = write_config(tmp_path, rate_limits=WIDE_RATE_LIMITS, **policies)
    cloud = (config / "backends" / "cloud.yaml").read_text()
    (config / "backends" / "cloud-sandbox.yaml").write_text(cloud + "sandbox: true\n")
    rule = _shadowing_rule("legacy", "cloud-sandbox", "sales_orders.create")
    routes = config / "routes.yaml"
    text = routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1)
    routes.write_text(text.replace("sample: 0.25", "sample: 1.0"))
    return config


async def _customer_in_the_sandbox(gw: Gateway, api: httpx.AsyncClient) -> dict[str, Any]:
    customer = (await api.post("/v1/customers", json=payloads.customer("FR01"))).json()
    [created] = gw.erps["legacy"].customers.values()
    gw.erps["cloud-sandbox"].customers["77"] = created
    await gw.runtime.store.bind_documents(
        [Binding(customer["id"], ErpDocument("cloud-sandbox", "77", "C77"))]
    )
    return dict(customer)


async def test_a_create_answered_again_for_the_id_its_document_has_is_one_sample(
    tmp_path: Path,
) -> None:
    # As when NetSuite hands back the document an earlier attempt created and bound: the
    # gateway answers again, reconciling, and only that second answer is the client's.
    binding = _FirstBind(MemoryStore(), "taken")
    config = _creates_into_a_sandbox(tmp_path)
    async with in_process_gateway(cast(Store, binding), config) as gw, gw.client() as api:
        customer = await _customer_in_the_sandbox(gw, api)
        body, headers = payloads.order("FR01", customer["id"]), payloads.new_key()
        order = await api.post("/v1/sales-orders", json=body, headers=headers)
        replayed = await api.post("/v1/sales-orders", json=body, headers=headers)
        report = await _report(gw)
    assert binding.failed and order.status_code == 201, order.text
    assert order.json()["id"] == binding.taken_by
    assert replayed.headers["Idempotent-Replayed"] == "true"
    # one create, one answer: one sample (the replay from the key's stored answer is none)
    assert (report["samples"], report["comparable"], report["matches"]) == (1, 1, 1)
    assert len(gw.erps["cloud-sandbox"].orders) == 1


async def test_a_create_whose_answer_the_client_never_got_is_sampled_once_by_its_retry(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    # The order's id could not be bound: the client is told 503 instead of the 201, and its
    # retry finds the order in the ERP and answers with it. One create: one sample.
    failing = _FirstBind(store, "unavailable")
    config = _creates_into_a_sandbox(tmp_path, idempotency=SHORT_LEASE)
    async with in_process_gateway(cast(Store, failing), config) as gw, gw.client() as api:
        gw.serve(replace(gw.app.state.serving.runtime, request_timeout_s=SHORT_DEADLINE_S))
        customer = await _customer_in_the_sandbox(gw, api)
        body, headers = payloads.order("FR01", customer["id"]), payloads.new_key()
        first = await api.post("/v1/sales-orders", json=body, headers=headers)
        await _shadowing(gw).flush()
        await clock.advance(max(LEASE_S, SHORT_DEADLINE_S + COMMIT_WINDOW_S) + 0.1)
        retry = await api.post("/v1/sales-orders", json=body, headers=headers)
        report = await _report(gw)
    assert (first.status_code, retry.status_code) == (503, 201), retry.text
    assert len(gw.erps["legacy"].orders) == 1
    assert (report["samples"], report["comparable"], report["matches"]) == (1, 1, 1)
    assert len(gw.erps["cloud-sandbox"].orders) == 1

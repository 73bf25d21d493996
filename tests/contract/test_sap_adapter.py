"""The SAP adapter against the legacy ERP simulator over real sockets, plus pinned HTTP shapes.

The simulator is an independent implementation of SAP's API; the fake transport pins requests.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY

from erp_simulators.sap import SimOptions, create_app
from gateway.adapters.base import CallContext, CustomerContext, References
from gateway.adapters.http import AiohttpTransport, ErpResponse
from gateway.adapters.sap import SapODataAdapter, build_sap_adapter
from gateway.config.backends import SapBackend
from gateway.domain.errors import Code, ErpFailure, GatewayError
from gateway.domain.models import (
    CreditCheck,
    CustomerCreate,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    SalesOrderStatus,
    ShipmentStatus,
)
from gateway.runtime import build_adapter
from tests.canonical import billing, order_item
from tests.fake_transport import FakeTransport, empty_response, json_response
from tests.servers import serve_app

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "GATEWAY_SVC", "legacy-sim-secret"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
DELIVERY = dt.date(2026, 12, 15)
ORDER_LINES = [
    order_item("WIDGET-1", 3, Decimal("19.99")),
    order_item("GADGET-2", 1, Decimal("149.00")),
]
ADDRESSES = {
    "DE01": billing(line1="Hauptstr. 5", city="Berlin", postal_code="10115", country="DE"),
    "US01": billing(
        line1="1 Main St", city="Austin", postal_code="78701", region="TX", country="US"
    ),
}
CURRENCIES = {"DE01": "EUR", "US01": "USD", "FR01": "EUR"}


def legacy_config(base_url: str, **extra_maps: dict[str, Any]) -> SapBackend:
    """The repository's backends/legacy.yaml, pointed at `base_url`, maps optionally extended."""
    raw = yaml.safe_load((REPO / "backends" / "legacy.yaml").read_text())
    raw["base_url"] = base_url
    for name, entries in extra_maps.items():
        raw["value_maps"][name].update(entries)
    return SapBackend.model_validate(raw)


def context(deadline_s: float = 5.0, correlation_id: str | None = None) -> CallContext:
    return CallContext(
        correlation_id=correlation_id or f"corr-{uuid.uuid4().hex[:12]}",
        traceparent=TRACEPARENT,
        tracestate="vendor=1",
        deadline=time.monotonic() + deadline_s,
    )


def customer_request(legal_entity: str = "DE01", **overrides: Any) -> CustomerCreate:
    fields: dict[str, Any] = {
        "external_ref": f"CRM-{uuid.uuid4().hex[:8].upper()}",
        "legal_entity": legal_entity,
        "legal_name": "Acme Corp",
        "tax_id": f"{legal_entity[:2]}123456789",
        "email": "ap@acme.example",
        "currency": CURRENCIES[legal_entity],
        "payment_terms": "NET30",
        "credit_limit": Decimal("50000.00"),
        "addresses": [ADDRESSES[legal_entity]],
    }
    fields.update(overrides)
    return CustomerCreate(**fields)


def references(external_ref: str | None = "CRM-OPP-77") -> References:
    return References(external_ref=external_ref, gateway_ref=f"gw-{uuid.uuid4().hex[:26]}")


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_app(create_app(username=USER, password=PASSWORD)) as url:
        yield url


@pytest.fixture
async def sim(sim_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim_url, timeout=5) as client:
        yield client
        await client.delete("/_sim/faults")


@pytest.fixture
async def adapter(sim_url: str) -> AsyncIterator[SapODataAdapter]:
    erp = SapODataAdapter(
        "legacy", legacy_config(sim_url), AiohttpTransport(sim_url), USER, PASSWORD
    )
    yield erp
    await erp.aclose()


async def stats(sim: httpx.AsyncClient) -> dict[str, int]:
    body: dict[str, int] = (await sim.get("/_sim/stats")).json()
    return body


async def new_customer(adapter: SapODataAdapter, legal_entity: str = "DE01", **kw: Any) -> str:
    created = await adapter.create_customer(
        customer_request(legal_entity, **kw), references(), context()
    )
    return created.erp_id


async def new_order(
    adapter: SapODataAdapter, customer_erp_id: str, legal_entity: str = "DE01", **kw: Any
) -> Any:
    return await adapter.create_sales_order(
        legal_entity,
        CustomerContext(erp_id=customer_erp_id, legal_entity=legal_entity),
        kw.get("currency", CURRENCIES[legal_entity]),
        DELIVERY,
        kw.get("lines", ORDER_LINES),
        kw.get("refs", references()),
        context(),
    )


async def refusal(call: Any) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await call
    return caught.value


def pointers(error: GatewayError) -> list[str]:
    return [e.pointer for e in error.errors]


# --- customers --------------------------------------------------------------------------------


@pytest.mark.parametrize("legal_entity", ["DE01", "US01"])
async def test_a_customer_is_created_and_reads_back_with_every_field(
    adapter: SapODataAdapter, legal_entity: str
) -> None:
    request = customer_request(legal_entity)
    refs = references(request.external_ref)

    created = await adapter.create_customer(request, refs, context())
    read = await adapter.get_customer(created.erp_id, context())

    assert len(created.document_number) == 10 and created.document_number.isdigit()
    assert read == created
    assert read.status is CustomerStatus.ACTIVE
    assert (read.legal_name, read.legal_entity, read.currency) == (
        "Acme Corp",
        legal_entity,
        request.currency,
    )
    assert (read.payment_terms, read.credit_limit) == ("NET30", Decimal("50000.00"))
    assert (read.tax_id, read.email, read.addresses) == (
        request.tax_id,
        request.email,
        tuple(request.addresses),
    )
    assert (read.external_ref, read.gateway_ref) == (request.external_ref, refs.gateway_ref)


@pytest.mark.parametrize(
    "legal_name",
    [
        "Acme Corporation International Holdings North America",
        "Acme Corporation International Holding North America",  # a blank at position 40
    ],
)
async def test_a_long_name_reads_back_unchanged_and_as_sap_shows_it(
    adapter: SapODataAdapter, sim: httpx.AsyncClient, legal_name: str
) -> None:
    created = await adapter.create_customer(
        customer_request(legal_name=legal_name), references(), context()
    )
    read = await adapter.get_customer(created.erp_id, context())
    raw = (
        await sim.get(
            f"/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner('{created.erp_id}')",
            auth=(USER, PASSWORD),
        )
    ).json()["d"]

    assert (created.legal_name, read.legal_name) == (legal_name, legal_name)
    assert raw["BusinessPartnerFullName"] == legal_name


async def test_a_customer_lands_in_its_legal_entitys_company_code_and_sales_area(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    erp_id = await new_customer(adapter, "US01")

    raw = (
        await sim.get(
            f"/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner('{erp_id}')",
            params={"$expand": "to_Customer/to_CustomerCompany,to_Customer/to_CustomerSalesArea"},
            auth=(USER, PASSWORD),
        )
    ).json()["d"]

    company = raw["to_Customer"]["to_CustomerCompany"]["results"][0]
    area = raw["to_Customer"]["to_CustomerSalesArea"]["results"][0]
    assert (company["CompanyCode"], company["PaymentTerms"]) == ("1710", "NT30")
    assert (area["SalesOrganization"], area["DistributionChannel"], area["Division"]) == (
        "1710",
        "10",
        "00",
    )
    assert area["Currency"] == "USD"


async def test_a_customer_is_found_by_its_gateway_reference_and_an_unknown_one_is_not(
    adapter: SapODataAdapter,
) -> None:
    refs = references()
    created = await adapter.create_customer(customer_request(), refs, context())

    assert await adapter.find_customer_by_gateway_ref(refs.gateway_ref, context()) == created
    assert await adapter.find_customer_by_gateway_ref("gw-" + "x" * 26, context()) is None
    assert await adapter.get_customer("0999999999", context()) is None


async def test_an_eu_customer_without_tax_id_is_refused_with_tax_id_required(
    adapter: SapODataAdapter,
) -> None:
    error = await refusal(
        adapter.create_customer(customer_request("DE01", tax_id=None), references(), context())
    )

    assert (error.code, error.status) == (Code.TAX_ID_REQUIRED, 422)
    assert pointers(error) == ["/tax_id"]
    assert "tax number" in error.detail


async def test_a_us_customer_without_tax_id_is_accepted(adapter: SapODataAdapter) -> None:
    created = await adapter.create_customer(
        customer_request("US01", tax_id=None), references(), context()
    )
    assert created.tax_id is None


async def test_payment_terms_without_a_value_map_entry_are_refused_before_calling_sap(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    before = (await stats(sim))["requests"]
    error = await refusal(
        adapter.create_customer(customer_request(payment_terms="NET99"), references(), context())
    )

    assert error.code is Code.INVALID_PAYMENT_TERMS
    assert pointers(error) == ["/payment_terms"]
    assert (await stats(sim))["requests"] == before


async def test_payment_terms_sap_does_not_know_come_back_as_invalid_payment_terms(
    sim_url: str,
) -> None:
    config = legacy_config(sim_url, payment_terms={"NET90": "NT90"})
    erp = SapODataAdapter("legacy", config, AiohttpTransport(sim_url), USER, PASSWORD)
    try:
        error = await refusal(
            erp.create_customer(customer_request(payment_terms="NET90"), references(), context())
        )
    finally:
        await erp.aclose()

    assert error.code is Code.INVALID_PAYMENT_TERMS
    assert set(pointers(error)) == {"/payment_terms"}
    # SAP's words reach the user in canonical terms, and support as SAP said them
    assert "NET90" in error.detail and "NT90" not in error.detail
    assert "NT90" in str(error.erp_message)


async def test_a_legal_entity_without_a_company_code_is_refused_before_calling_sap(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    before = (await stats(sim))["requests"]
    request = customer_request("DE01").model_copy(update={"legal_entity": "XX01"})
    error = await refusal(adapter.create_customer(request, references(), context()))

    assert error.code is Code.ERP_REJECTED
    assert pointers(error) == ["/legal_entity"]
    assert (await stats(sim))["requests"] == before


async def test_a_crm_reference_longer_than_sap_keeps_is_refused_at_external_ref(
    adapter: SapODataAdapter,
) -> None:
    error = await refusal(
        adapter.create_customer(
            customer_request(external_ref="R" * 30), references("R" * 30), context()
        )
    )
    assert error.code is Code.ERP_REJECTED
    assert pointers(error) == ["/external_ref"]


# --- sales orders -----------------------------------------------------------------------------


async def test_an_order_is_created_priced_and_reads_back(adapter: SapODataAdapter) -> None:
    customer = await new_customer(adapter)
    refs = references("CRM-OPP-77")

    created = await new_order(adapter, customer, refs=refs)
    read = await adapter.get_sales_order(created.erp_id, context())

    assert read == created
    assert len(created.document_number) == 10
    assert created.status is SalesOrderStatus.ACCEPTED and created.hold_reason is None
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.amount) for ln in created.lines] == [
        ("WIDGET-1", 3, Decimal("19.99"), Decimal("59.97")),
        ("GADGET-2", 1, Decimal("149.00"), Decimal("149.00")),
    ]
    # German output tax, 19 % per item: 11.39 + 28.31
    assert (created.net_amount, created.tax_amount, created.total_amount) == (
        Decimal("208.97"),
        Decimal("39.70"),
        Decimal("248.67"),
    )
    assert (created.customer_erp_id, created.currency) == (customer, "EUR")
    assert created.requested_delivery_date == DELIVERY
    assert (created.external_ref, created.gateway_ref) == ("CRM-OPP-77", refs.gateway_ref)


async def test_an_order_is_found_by_its_gateway_reference_not_by_the_crm_reference(
    adapter: SapODataAdapter,
) -> None:
    customer = await new_customer(adapter)
    refs = references("CRM-SHARED-REF")
    created = await new_order(adapter, customer, refs=refs)
    await new_order(adapter, customer, refs=references("CRM-SHARED-REF"))

    assert await adapter.find_sales_order_by_gateway_ref(refs.gateway_ref, context()) == created
    assert await adapter.find_sales_order_by_gateway_ref("gw-none", context()) is None
    assert await adapter.get_sales_order("0099999999", context()) is None


async def test_a_sku_without_a_value_map_entry_is_unknown_sku_at_its_line_before_sap(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    customer = await new_customer(adapter)
    before = (await stats(sim))["requests"]
    lines = [ORDER_LINES[0], order_item("NO-SUCH-SKU", 1, Decimal("1.00"))]

    error = await refusal(new_order(adapter, customer, lines=lines))

    assert (error.code, pointers(error)) == (Code.UNKNOWN_SKU, ["/items/1/product_id"])
    assert (await stats(sim))["requests"] == before


async def test_a_material_sap_does_not_have_is_unknown_sku_at_its_line(sim_url: str) -> None:
    erp = SapODataAdapter(
        "legacy",
        legacy_config(sim_url, skus={"GIZMO-3": "FG-GIZMO3"}),
        AiohttpTransport(sim_url),
        USER,
        PASSWORD,
    )
    try:
        customer = await new_customer(erp)
        lines = [ORDER_LINES[0], order_item("GIZMO-3", 1, Decimal("5.00"))]
        error = await refusal(new_order(erp, customer, lines=lines))
    finally:
        await erp.aclose()

    assert (error.code, pointers(error)) == (Code.UNKNOWN_SKU, ["/items/1/product_id"])
    assert (error.detail, error.erp_message) == (
        "Product GIZMO-3 does not exist",
        "Material FG-GIZMO3 does not exist",
    )


async def test_a_stale_price_is_price_mismatch_at_the_lines_unit_price(
    adapter: SapODataAdapter,
) -> None:
    customer = await new_customer(adapter)
    lines = [ORDER_LINES[0], order_item("GADGET-2", 1, Decimal("99.00"))]

    error = await refusal(new_order(adapter, customer, lines=lines))

    assert (error.code, pointers(error)) == (Code.PRICE_MISMATCH, ["/items/1/price/amount"])
    assert "149.00" in error.detail


async def test_a_customer_not_set_up_in_the_orders_sales_area_is_refused_at_customer_id(
    adapter: SapODataAdapter,
) -> None:
    german_customer = await new_customer(adapter, "DE01")

    error = await refusal(new_order(adapter, german_customer, "FR01"))

    assert (error.code, pointers(error)) == (Code.CUSTOMER_LEGAL_ENTITY_MISMATCH, ["/customer_id"])


async def test_an_order_for_a_business_partner_sap_does_not_have_is_customer_not_found(
    adapter: SapODataAdapter,
) -> None:
    error = await refusal(new_order(adapter, "0999999999"))
    assert (error.code, pointers(error)) == (Code.CUSTOMER_NOT_FOUND, ["/customer_id"])


async def test_an_order_over_the_credit_limit_is_saved_on_credit_hold(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    customer = await new_customer(adapter, credit_limit=Decimal("100.00"))
    before = (await stats(sim))["sales_orders"]

    order = await new_order(adapter, customer)

    assert (order.status, order.hold_reason) == (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)
    assert (await stats(sim))["sales_orders"] == before + 1
    read = await adapter.get_sales_order(order.erp_id, context())
    assert read is not None and read.status is SalesOrderStatus.ON_HOLD


async def test_open_orders_use_up_the_credit_limit(adapter: SapODataAdapter) -> None:
    customer = await new_customer(adapter, credit_limit=Decimal("400.00"))  # one order: 248.67

    first = await new_order(adapter, customer)
    second = await new_order(adapter, customer)

    assert first.status is SalesOrderStatus.ACCEPTED
    assert (second.status, second.hold_reason) == (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)


async def test_cancelling_rejects_every_item_and_is_idempotent(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    order = await new_order(adapter, await new_customer(adapter))

    cancelled = await adapter.cancel_sales_order(order.erp_id, context())
    again = await adapter.cancel_sales_order(order.erp_id, context())

    assert cancelled.status is SalesOrderStatus.CANCELLED
    assert again == cancelled
    raw = (
        await sim.get(
            f"/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('{order.erp_id}')",
            params={"$expand": "to_Item"},
            auth=(USER, PASSWORD),
        )
    ).json()["d"]
    assert raw["OverallSDDocumentRejectionSts"] == "C"
    assert {i["SalesDocumentRjcnReason"] for i in raw["to_Item"]["results"]} == {"10"}


async def test_an_order_sap_has_delivered_cannot_be_cancelled(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    order = await new_order(adapter, await new_customer(adapter))
    (
        await sim.post("/_sim/advance", json={"to": "shipped", "sales_order": order.erp_id})
    ).raise_for_status()

    error = await refusal(adapter.cancel_sales_order(order.erp_id, context()))

    assert (error.code, error.status) == (Code.INVALID_STATE, 422)
    assert order.erp_id in error.detail
    read = await adapter.get_sales_order(order.erp_id, context())
    assert read is not None and read.status is SalesOrderStatus.SHIPPED


async def test_cancelling_an_order_sap_does_not_have_is_not_found(adapter: SapODataAdapter) -> None:
    error = await refusal(adapter.cancel_sales_order("0099999999", context()))
    assert error.code is Code.NOT_FOUND


async def test_an_order_moves_through_fulfilment_with_its_shipments_and_invoices(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    order = await new_order(adapter, await new_customer(adapter))

    async def advanced_to(stage: str) -> SalesOrderStatus:
        (
            await sim.post("/_sim/advance", json={"to": stage, "sales_order": order.erp_id})
        ).raise_for_status()
        read = await adapter.get_sales_order(order.erp_id, context())
        assert read is not None
        return read.status

    assert await adapter.list_shipments(order.erp_id, context()) == []
    assert await advanced_to("in_fulfillment") is SalesOrderStatus.IN_FULFILLMENT
    [pending] = await adapter.list_shipments(order.erp_id, context())
    assert (pending.status, pending.shipped_at) == (ShipmentStatus.PENDING, None)

    assert await advanced_to("shipped") is SalesOrderStatus.SHIPPED
    [shipped] = await adapter.list_shipments(order.erp_id, context())
    assert shipped.erp_id == pending.erp_id and shipped.status is ShipmentStatus.SHIPPED
    assert shipped.shipped_at is not None and shipped.sales_order_erp_id == order.erp_id
    assert [(ln.sku, ln.quantity) for ln in shipped.lines] == [("WIDGET-1", 3), ("GADGET-2", 1)]
    assert await adapter.get_shipment(shipped.erp_id, context()) == shipped
    assert await adapter.list_invoices(order.erp_id, context()) == []

    assert await advanced_to("invoiced") is SalesOrderStatus.INVOICED
    [invoice] = await adapter.list_invoices(order.erp_id, context())
    assert (invoice.status, invoice.currency, invoice.sales_order_erp_id) == (
        InvoiceStatus.OPEN,
        "EUR",
        order.erp_id,
    )
    assert (invoice.net_amount, invoice.tax_amount, invoice.total_amount) == (
        Decimal("208.97"),
        Decimal("39.70"),
        Decimal("248.67"),
    )

    assert await advanced_to("paid") is SalesOrderStatus.PAID
    paid = await adapter.get_invoice(invoice.erp_id, context())
    assert paid is not None and paid.status is InvoiceStatus.PAID
    assert await adapter.get_invoice("0099999999", context()) is None
    assert await adapter.get_shipment("0099999999", context()) is None


async def test_a_quote_is_priced_and_credit_checked_without_creating_an_order(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    generous = CustomerContext(erp_id=await new_customer(adapter), legal_entity="DE01")
    tight = CustomerContext(
        erp_id=await new_customer(adapter, credit_limit=Decimal("10.00")), legal_entity="DE01"
    )
    before = (await stats(sim))["sales_orders"]

    quote = await adapter.validate_quote("DE01", generous, "EUR", DELIVERY, ORDER_LINES, context())
    blocked = await adapter.validate_quote("DE01", tight, "EUR", None, ORDER_LINES, context())

    assert (quote.net_amount, quote.tax_amount, quote.total_amount) == (
        Decimal("208.97"),
        Decimal("39.70"),
        Decimal("248.67"),
    )
    assert [ln.amount for ln in quote.lines] == [Decimal("59.97"), Decimal("149.00")]
    assert quote.credit_check is CreditCheck.PASSED
    assert blocked.credit_check is CreditCheck.WOULD_BLOCK
    assert (await stats(sim))["sales_orders"] == before


async def test_a_quote_with_a_stale_price_is_price_mismatch(adapter: SapODataAdapter) -> None:
    customer = CustomerContext(erp_id=await new_customer(adapter), legal_entity="DE01")
    lines = [order_item("WIDGET-1", 1, Decimal("18.00"))]

    error = await refusal(adapter.validate_quote("DE01", customer, "EUR", None, lines, context()))

    assert (error.code, pointers(error)) == (Code.PRICE_MISMATCH, ["/items/0/price/amount"])


# --- mechanics --------------------------------------------------------------------------------


async def test_an_expired_csrf_token_is_fetched_again_and_the_write_succeeds(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    await new_customer(adapter)
    fetches = (await stats(sim))["csrf_fetches"]
    customers = (await stats(sim))["customers"]
    (await sim.post("/_sim/csrf/expire")).raise_for_status()

    await new_customer(adapter)
    await new_customer(adapter)

    assert (await stats(sim))["customers"] == customers + 2
    assert (await stats(sim))["csrf_fetches"] == fetches + 1


async def test_concurrent_first_writes_fetch_one_csrf_token(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    fetches = (await stats(sim))["csrf_fetches"]

    created = await asyncio.gather(*(new_customer(adapter) for _ in range(8)))

    assert len(set(created)) == 8
    assert (await stats(sim))["csrf_fetches"] == fetches + 1


async def test_correlation_id_and_trace_context_reach_the_erp_on_every_call(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    ctx = context(correlation_id=f"trace-{uuid.uuid4().hex[:8]}")

    await adapter.create_customer(customer_request(), references(), ctx)

    seen = (await sim.get("/_sim/requests", params={"limit": 50})).json()["requests"]
    mine = [r for r in seen if r["headers"].get("x-correlation-id") == ctx.correlation_id]
    assert [r["method"] for r in mine] == ["GET", "POST"]  # the CSRF fetch, then the create
    assert {r["headers"]["traceparent"] for r in mine} == {TRACEPARENT}
    assert {r["headers"]["tracestate"] for r in mine} == {"vendor=1"}


async def test_a_hanging_erp_is_erp_timeout_within_the_deadline(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    order = await new_order(adapter, await new_customer(adapter))
    (
        await sim.post(
            "/_sim/faults",
            json={"mode": "timeout", "latency_ms": 1500, "operations": ["sales_orders.read"]},
        )
    ).raise_for_status()

    started = time.monotonic()
    error = await refusal(adapter.get_sales_order(order.erp_id, context(deadline_s=0.5)))

    assert isinstance(error, ErpFailure)
    assert (error.code, error.retryable) == (Code.ERP_TIMEOUT, True)
    assert time.monotonic() - started < 1.0


async def test_an_erp_error_is_erp_unavailable_and_retryable(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    erp_id = await new_customer(adapter)
    (
        await sim.post(
            "/_sim/faults", json={"mode": "error", "status": 503, "operations": ["customers.read"]}
        )
    ).raise_for_status()

    error = await refusal(adapter.get_customer(erp_id, context()))

    assert isinstance(error, ErpFailure)
    assert (error.code, error.status, error.retryable) == (Code.ERP_UNAVAILABLE, 503, True)


@pytest.mark.parametrize(
    ("fault", "ambiguous"),
    [
        ({"mode": "error", "status": 500}, True),  # a short dump, perhaps after the commit
        ({"mode": "html", "status": 502}, True),  # a dispatcher that lost SAP's answer
        ({"mode": "error", "status": 503}, False),  # refused before any work
        ({"mode": "error", "status": 429}, False),
    ],
    ids=["500", "502", "503", "429"],
)
async def test_a_create_answered_with_a_server_error_is_ambiguous_unless_refused_on_arrival(
    adapter: SapODataAdapter, sim: httpx.AsyncClient, fault: dict[str, Any], ambiguous: bool
) -> None:
    customer = await new_customer(adapter)
    operations = ["sales_orders.create"]
    (await sim.post("/_sim/faults", json={**fault, "operations": operations})).raise_for_status()

    error = await refusal(new_order(adapter, customer))

    assert isinstance(error, ErpFailure)
    assert (error.code, error.retryable) == (Code.ERP_UNAVAILABLE, True)
    assert error.ambiguous is ambiguous  # ambiguous: the key is held, the retry reconciles


async def test_a_malformed_answer_is_erp_bad_response(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    order = await new_order(adapter, await new_customer(adapter))
    (
        await sim.post(
            "/_sim/faults", json={"mode": "malformed", "operations": ["sales_orders.read"]}
        )
    ).raise_for_status()

    error = await refusal(adapter.get_sales_order(order.erp_id, context()))

    assert isinstance(error, ErpFailure)
    assert (error.code, error.status) == (Code.ERP_BAD_RESPONSE, 502)


async def test_a_service_sap_has_not_activated_is_a_technical_failure_not_records_gone() -> None:
    # SAP Gateway answers 404 for a service not activated in /IWFND/MAINT_SERVICE: every
    # customer read there would otherwise be "not found" to the CRM, which may drop its link.
    options = SimOptions(inactive_services=frozenset({"API_BUSINESS_PARTNER"}))
    with serve_app(create_app(username=USER, password=PASSWORD, options=options)) as url:
        erp = SapODataAdapter("legacy", legacy_config(url), AiohttpTransport(url), USER, PASSWORD)
        try:
            error = await refusal(erp.get_customer("0001000001", context()))
            gone = await erp.get_sales_order("0099999999", context())  # an active service's
        finally:
            await erp.aclose()

    assert isinstance(error, ErpFailure)
    assert (error.code, error.status, error.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)
    assert "/IWFND/MED/170" in error.detail and "/IWFND/MAINT_SERVICE" in error.detail
    assert gone is None


async def test_customers_are_created_while_the_sales_order_service_is_not_activated() -> None:
    # The CSRF token comes from the service written to: a service not activated stops only
    # the writes to it, and those name SAP's message and the fix.
    options = SimOptions(inactive_services=frozenset({"API_SALES_ORDER_SRV"}))
    with serve_app(create_app(username=USER, password=PASSWORD, options=options)) as url:
        erp = SapODataAdapter("legacy", legacy_config(url), AiohttpTransport(url), USER, PASSWORD)
        try:
            first = await new_customer(erp)
            second = await new_customer(erp)
            error = await refusal(new_order(erp, first))
            async with httpx.AsyncClient(base_url=url) as sim:
                fetches = (await stats(sim))["csrf_fetches"]
        finally:
            await erp.aclose()

    assert first != second
    assert fetches == 1
    assert isinstance(error, ErpFailure)
    assert (error.code, error.status, error.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)
    assert "/IWFND/MED/170" in error.detail and "/IWFND/MAINT_SERVICE" in error.detail


DELIVERY_ITEMS = "/sap/opu/odata/sap/API_OUTBOUND_DELIVERY_SRV/A_OutbDeliveryItem"
OUTSIDE_LINKS = {
    "dot segments": "{sim}/sap/opu/odata/sap/API_OUTBOUND_DELIVERY_SRV/../../../../bc/ping",
    "encoded dots": "{sim}/sap/opu/odata/sap/API_OUTBOUND_DELIVERY_SRV/%2e%2e/%2E%2E/%2e%2e/%2e%2e/"
    "bc/ping",
    "another service": "{sim}/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner",
    "another sap-client": "{sim}" + DELIVERY_ITEMS + "?sap-client=200&$skiptoken=1",
    "relative, up and out": "../../../../bc/ping",
}


@pytest.mark.parametrize("link", OUTSIDE_LINKS.values(), ids=OUTSIDE_LINKS.keys())
async def test_a_next_link_out_of_the_service_is_a_bad_response_and_never_followed(
    adapter: SapODataAdapter, sim: httpx.AsyncClient, sim_url: str, link: str
) -> None:
    # Whatever a page's __next names, the gateway's logon (Basic auth, session cookie, its
    # sap-client) goes only to the service it read: a link elsewhere is SAP answering badly.
    page = {"d": {"results": [], "__next": link.format(sim=sim_url)}}
    fault = {"mode": "malformed", "body": page, "operations": ["shipments.read"]}
    (await sim.post("/_sim/faults", json=fault)).raise_for_status()
    ctx = context()

    error = await refusal(adapter.list_shipments("0010000001", ctx))

    assert isinstance(error, ErpFailure)
    assert (error.code, error.status, error.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)
    seen = (await sim.get("/_sim/requests", params={"limit": 50})).json()["requests"]
    mine = [r for r in seen if r["headers"].get("x-correlation-id") == ctx.correlation_id]
    assert [(r["path"], r["query"].split("&")[0]) for r in mine] == [
        (DELIVERY_ITEMS, "sap-client=100")
    ]


async def test_a_create_whose_answer_is_lost_is_ambiguous_and_found_by_its_reference(
    adapter: SapODataAdapter, sim: httpx.AsyncClient
) -> None:
    customer = await new_customer(adapter)
    (
        await sim.post(
            "/_sim/faults",
            json={
                "mode": "commit_then_timeout",
                "latency_ms": 1500,
                "operations": ["sales_orders.create"],
            },
        )
    ).raise_for_status()
    refs = references()

    error = await refusal(
        adapter.create_sales_order(
            "DE01",
            CustomerContext(erp_id=customer, legal_entity="DE01"),
            "EUR",
            None,
            ORDER_LINES,
            refs,
            context(deadline_s=0.5),
        )
    )
    await sim.delete("/_sim/faults")

    assert isinstance(error, ErpFailure) and error.code is Code.ERP_TIMEOUT and error.ambiguous
    found = await adapter.find_sales_order_by_gateway_ref(refs.gateway_ref, context())
    assert found is not None and found.gateway_ref == refs.gateway_ref


async def test_wrong_credentials_are_erp_unavailable_without_leaking_them(sim_url: str) -> None:
    erp = SapODataAdapter(
        "legacy", legacy_config(sim_url), AiohttpTransport(sim_url), USER, "wrong-password"
    )
    try:
        error = await refusal(erp.get_customer("0001000001", context()))
        assert not await erp.ping(context())
    finally:
        await erp.aclose()

    assert error.code is Code.ERP_UNAVAILABLE
    assert "wrong-password" not in error.detail and USER not in error.detail


async def test_ping_is_true_when_the_erp_answers(adapter: SapODataAdapter) -> None:
    assert await adapter.ping(context())


async def test_the_factory_takes_credentials_from_the_environment(sim_url: str) -> None:
    config = legacy_config(sim_url)
    env = {"LEGACY_ERP_USER": USER, "LEGACY_ERP_PASSWORD": PASSWORD}

    erp = build_sap_adapter("legacy", config, env)
    try:
        assert await erp.ping(context())
        assert (erp.name, erp.kind) == ("legacy", "sap-odata-v2")
    finally:
        await erp.aclose()
    with pytest.raises(ValueError, match="LEGACY_ERP_PASSWORD"):
        build_sap_adapter("legacy", config, {"LEGACY_ERP_USER": USER})


# --- pinned HTTP shapes (fake transport) ------------------------------------------------------

BASE = "http://sap.invalid"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SESSION_COOKIE = "SAP_SESSIONID_S4H_100=s3ss10n; sap-usercontext=sap-client=100"


def token_answer(token: str = "t0k3n") -> ErpResponse:
    return ErpResponse(
        200,
        {"x-csrf-token": token},
        b"",
        {"SAP_SESSIONID_S4H_100": "s3ss10n", "sap-usercontext": "sap-client=100"},
    )


def csrf_refused() -> ErpResponse:
    return ErpResponse(403, {"x-csrf-token": "Required"}, b"CSRF token validation failed")


def fake_adapter(transport: FakeTransport) -> SapODataAdapter:
    return SapODataAdapter("legacy", legacy_config(BASE), transport, USER, PASSWORD)


def bp_answer(number: str = "0001000001") -> ErpResponse:
    return json_response(201, {"d": {"BusinessPartner": number, "BusinessPartnerCategory": "2"}})


def order_answer(number: str = "0010000001", **fields: Any) -> dict[str, Any]:
    items = [
        {
            "SalesOrderItem": str(n * 10),
            "Material": "FG-WIDGET1",
            "RequestedQuantity": "1.000",
            "NetAmount": "19.99",
            "SalesDocumentRjcnReason": "",
            "to_PricingElement": {"results": [{"ConditionClass": "D", "ConditionAmount": "3.80"}]},
        }
        for n in (1, 2)
    ]
    entity = {
        "SalesOrder": number,
        "SoldToParty": "0001000001",
        "TransactionCurrency": "EUR",
        "TotalNetAmount": "39.98",
        "OverallSDProcessStatus": "A",
        "OverallTotalDeliveryStatus": "A",
        "OverallSDDocumentRejectionSts": "A",
        "to_Item": {"results": items},
        **fields,
    }
    return {"d": entity}


async def test_a_customer_create_sends_exactly_this_http() -> None:
    transport = FakeTransport([token_answer(), bp_answer()])
    ctx = context(correlation_id="corr-pinned")
    request = customer_request("DE01", external_ref="CRM-ACC-1001", legal_name="Acme Corp")
    refs = References(external_ref="CRM-ACC-1001", gateway_ref="gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    await fake_adapter(transport).create_customer(request, refs, ctx)

    fetch, post = transport.sent
    trace = {
        "X-Correlation-ID": "corr-pinned",
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
    }
    assert (fetch.method, fetch.path, fetch.params) == (
        "GET",
        "/sap/opu/odata/sap/API_BUSINESS_PARTNER/",
        {"sap-client": "100"},
    )
    assert fetch.headers == {
        "Authorization": BASIC,
        "Accept": "application/json",
        "x-csrf-token": "Fetch",
        **trace,
    }
    assert (post.method, post.path, post.params) == (
        "POST",
        "/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner",
        {"sap-client": "100"},
    )
    assert post.headers == {
        "Authorization": BASIC,
        "Accept": "application/json",
        **trace,
        "x-csrf-token": "t0k3n",
        "Cookie": SESSION_COOKIE,
    }
    assert post.deadline == ctx.deadline == fetch.deadline
    assert post.json_body == {
        "BusinessPartnerCategory": "2",
        "OrganizationBPName1": "Acme Corp",
        "YY1_GatewayRef_SDH": "gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "YY1_CreditLimit_bus": "50000.00",
        "BusinessPartnerIDByExtSystem": "CRM-ACC-1001",
        "to_BusinessPartnerRole": {
            "results": [{"BusinessPartnerRole": "FLCU00"}, {"BusinessPartnerRole": "FLCU01"}]
        },
        "to_BusinessPartnerAddress": {
            "results": [
                {
                    "StreetName": "Hauptstr. 5",
                    "CityName": "Berlin",
                    "PostalCode": "10115",
                    "Country": "DE",
                    "Language": "EN",
                    "to_EmailAddress": {"results": [{"EmailAddress": "ap@acme.example"}]},
                }
            ]
        },
        "to_BusinessPartnerTax": {"results": [{"BPTaxType": "DE0", "BPTaxNumber": "DE123456789"}]},
        "to_Customer": {
            "to_CustomerCompany": {"results": [{"CompanyCode": "1010", "PaymentTerms": "NT30"}]},
            "to_CustomerSalesArea": {
                "results": [
                    {
                        "SalesOrganization": "1010",
                        "DistributionChannel": "10",
                        "Division": "00",
                        "Currency": "EUR",
                        "CustomerPaymentTerms": "NT30",
                    }
                ]
            },
        },
    }


async def test_a_sales_order_create_sends_exactly_this_http() -> None:
    transport = FakeTransport([token_answer(), json_response(201, order_answer())])
    ctx = context(correlation_id="corr-so")
    refs = References(external_ref="CRM-OPP-77", gateway_ref="gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    await fake_adapter(transport).create_sales_order(
        "US01",
        CustomerContext(erp_id="0001000042", legal_entity="US01"),
        "USD",
        DELIVERY,
        ORDER_LINES,
        refs,
        ctx,
    )

    post = transport.sent[1]
    assert (post.method, post.path, post.params) == (
        "POST",
        "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder",
        {"sap-client": "100"},
    )
    assert post.header("x-csrf-token") == "t0k3n" and post.header("Cookie") == SESSION_COOKIE
    assert post.header("X-Correlation-ID") == "corr-so"
    assert post.json_body == {
        "SalesOrderType": "OR",
        "SalesOrganization": "1710",
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": "0001000042",
        "TransactionCurrency": "USD",
        "RequestedDeliveryDate": "/Date(1797292800000)/",
        "PurchaseOrderByCustomer": "CRM-OPP-77",
        "YY1_GatewayRef_SDH": "gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "to_Item": {
            "results": [
                {
                    "SalesOrderItem": "10",
                    "Material": "FG-WIDGET1",
                    "RequestedQuantity": "3",
                    "to_PricingElement": {
                        "results": [
                            {
                                "ConditionType": "EDI1",
                                "ConditionRateValue": "19.99",
                                "ConditionCurrency": "USD",
                            }
                        ]
                    },
                },
                {
                    "SalesOrderItem": "20",
                    "Material": "FG-GADGET2",
                    "RequestedQuantity": "1",
                    "to_PricingElement": {
                        "results": [
                            {
                                "ConditionType": "EDI1",
                                "ConditionRateValue": "149.00",
                                "ConditionCurrency": "USD",
                            }
                        ]
                    },
                },
            ]
        },
    }


async def test_a_write_refused_for_its_csrf_token_refetches_once_and_retries() -> None:
    transport = FakeTransport(
        [token_answer("old"), csrf_refused(), token_answer("new"), bp_answer()]
    )

    await fake_adapter(transport).create_customer(customer_request(), references(), context())

    assert [(r.method, r.header("x-csrf-token")) for r in transport.sent] == [
        ("GET", "Fetch"),
        ("POST", "old"),
        ("GET", "Fetch"),
        ("POST", "new"),
    ]


async def test_a_second_csrf_refusal_is_not_retried_again() -> None:
    transport = FakeTransport(
        [token_answer("a"), csrf_refused(), token_answer("b"), csrf_refused()]
    )

    error = await refusal(
        fake_adapter(transport).create_customer(customer_request(), references(), context())
    )

    assert error.code is Code.ERP_UNAVAILABLE
    assert len(transport.sent) == 4


async def test_a_create_answered_403_for_a_missing_service_is_not_a_refused_logon() -> None:
    # Some releases answer /IWFND/MED/170 (no service) with 403: no CSRF refusal to retry, and
    # no credentials to check, but the service to activate.
    no_service = {
        "error": {
            "code": "/IWFND/MED/170",
            "message": {
                "lang": "en",
                "value": "No service found for namespace '/SAP/', name 'API_BUSINESS_PARTNER', "
                "version '0001'",
            },
        }
    }
    transport = FakeTransport([token_answer(), json_response(403, no_service)])

    error = await refusal(
        fake_adapter(transport).create_customer(customer_request(), references(), context())
    )

    assert isinstance(error, ErpFailure)
    assert (error.code, error.status, error.ambiguous) == (Code.ERP_BAD_RESPONSE, 502, False)
    assert "/IWFND/MED/170" in error.detail and "/IWFND/MAINT_SERVICE" in error.detail
    assert "credentials" not in error.detail
    assert [r.method for r in transport.sent] == ["GET", "POST"]


async def test_concurrent_writes_wait_for_one_token_fetch() -> None:
    def answer(sent: Any) -> ErpResponse:
        return token_answer() if sent.method == "GET" else bp_answer()

    transport = FakeTransport(responder=answer)
    erp = fake_adapter(transport)

    await asyncio.gather(
        *(erp.create_customer(customer_request(), references(), context()) for _ in range(5))
    )

    assert [r.method for r in transport.sent].count("GET") == 1
    assert {r.header("x-csrf-token") for r in transport.sent if r.method == "POST"} == {"t0k3n"}


async def test_one_csrf_token_serves_writes_to_every_service() -> None:
    # SAP binds the token to the user's session (its cookies), not to a service: the token
    # fetched at the first write's service serves the writes to the others.
    transport = FakeTransport([token_answer(), bp_answer(), json_response(201, order_answer())])
    erp = fake_adapter(transport)
    customer = CustomerContext(erp_id="0001000001", legal_entity="DE01")

    await erp.create_customer(customer_request(), references(), context())
    await erp.create_sales_order(
        "DE01", customer, "EUR", DELIVERY, ORDER_LINES, references(), context()
    )

    assert [(r.method, r.path) for r in transport.sent] == [
        ("GET", "/sap/opu/odata/sap/API_BUSINESS_PARTNER/"),
        ("POST", "/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner"),
        ("POST", "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"),
    ]
    assert {(r.header("x-csrf-token"), r.header("Cookie")) for r in transport.sent[1:]} == {
        ("t0k3n", SESSION_COOKIE)
    }


@pytest.mark.parametrize("status", [404, 403])
async def test_a_token_fetch_sap_gateway_answers_without_the_service_names_the_fix(
    status: int,
) -> None:
    no_service = {
        "error": {
            "code": "/IWFND/MED/170",
            "message": {
                "lang": "en",
                "value": "No service found for namespace '/SAP/', name 'API_SALES_ORDER_SRV', "
                "version '0001'",
            },
        }
    }
    transport = FakeTransport([json_response(status, no_service)])
    customer = CustomerContext(erp_id="0001000001", legal_entity="DE01")

    error = await refusal(
        fake_adapter(transport).create_sales_order(
            "DE01", customer, "EUR", DELIVERY, ORDER_LINES, references(), context()
        )
    )

    assert isinstance(error, ErpFailure)
    assert (error.code, error.status, error.ambiguous) == (Code.ERP_BAD_RESPONSE, 502, False)
    assert "/IWFND/MED/170" in error.detail and "/IWFND/MAINT_SERVICE" in error.detail
    assert [(r.method, r.path) for r in transport.sent] == [
        ("GET", "/sap/opu/odata/sap/API_SALES_ORDER_SRV/")
    ]


async def test_cancel_patches_each_open_item_without_an_etag_then_reads_back() -> None:
    rejected = order_answer(OverallSDDocumentRejectionSts="C", OverallSDProcessStatus="C")
    transport = FakeTransport(
        [
            json_response(200, order_answer()),
            token_answer(),
            empty_response(204),
            empty_response(204),
            json_response(200, rejected),
        ]
    )

    order = await fake_adapter(transport).cancel_sales_order("0010000001", context())

    patches = [r for r in transport.sent if r.method == "PATCH"]
    # Only the order header has an ETag in SAP's metadata: items are changed without If-Match.
    assert [(p.path, p.header("If-Match"), p.json_body) for p in patches] == [
        (
            "/sap/opu/odata/sap/API_SALES_ORDER_SRV/"
            "A_SalesOrderItem(SalesOrder='0010000001',SalesOrderItem='10')",
            None,
            {"SalesDocumentRjcnReason": "10"},
        ),
        (
            "/sap/opu/odata/sap/API_SALES_ORDER_SRV/"
            "A_SalesOrderItem(SalesOrder='0010000001',SalesOrderItem='20')",
            None,
            {"SalesDocumentRjcnReason": "10"},
        ),
    ]
    read = transport.sent[0].params or {}
    assert (read["$expand"], read["sap-client"]) == ("to_Item/to_PricingElement", "100")
    assert read["$select"].startswith("SalesOrder,SoldToParty,")
    assert order.status is SalesOrderStatus.CANCELLED


async def test_a_transport_failure_passes_through_unchanged() -> None:
    failure = ErpFailure(Code.ERP_TIMEOUT, "The ERP did not answer in time.", ambiguous=True)
    transport = FakeTransport([failure])

    error = await refusal(fake_adapter(transport).get_customer("0001000001", context()))

    assert error is failure


ITEM_PAGE_LINKS = {
    "absolute": BASE + DELIVERY_ITEMS + "?$filter=x&$skiptoken=1",
    "absolute, SAP's own host behind a proxy": "https://s4h-internal:44300"
    + DELIVERY_ITEMS
    + "?$filter=x&$skiptoken=1",
    "relative to the request": "A_OutbDeliveryItem?$filter=x&$skiptoken=1",
    "relative, query only": "?$filter=x&$skiptoken=1",
    "relative, from the root": DELIVERY_ITEMS + "?$filter=x&$skiptoken=1",
}


@pytest.mark.parametrize("link", ITEM_PAGE_LINKS.values(), ids=ITEM_PAGE_LINKS.keys())
async def test_the_next_page_is_asked_of_the_same_backend_where_the_link_points_in_the_service(
    link: str,
) -> None:
    # SAP writes __next absolute, with the host it knows itself by (behind a web dispatcher,
    # not the one the gateway calls unless HTTPURLLOC says otherwise): the path in the service
    # is followed, always on the configured backend.
    first = {"d": {"results": [{"DeliveryDocument": "80000001"}], "__next": link}}
    second = {"d": {"results": [{"DeliveryDocument": "80000002"}]}}
    transport = FakeTransport([json_response(200, first), json_response(200, second)])

    rows = await fake_adapter(transport).client.read_rows(
        DELIVERY_ITEMS, {"$filter": "x"}, context()
    )

    assert [row["DeliveryDocument"] for row in rows] == ["80000001", "80000002"]
    asked = transport.sent[1]
    assert (asked.path, asked.params) == (
        DELIVERY_ITEMS,
        {"sap-client": "100", "$filter": "x", "$skiptoken": "1"},
    )
    assert asked.header("Authorization") == BASIC


def unmapped_codes(kind: str) -> float:
    labels = {"backend": "legacy", "kind": kind}
    return REGISTRY.get_sample_value("gateway_erp_unmapped_codes_total", labels) or 0.0


async def test_an_order_read_with_a_material_its_maps_do_not_know_is_counted_in_metrics(
    sim_url: str, adapter: SapODataAdapter
) -> None:
    order = await new_order(adapter, await new_customer(adapter))
    config = legacy_config(sim_url)
    skus = {sku: m for sku, m in config.value_maps.skus.items() if sku != "GADGET-2"}
    narrowed = config.model_copy(
        update={"value_maps": config.value_maps.model_copy(update={"skus": skus})}
    )
    env = {"LEGACY_ERP_USER": USER, "LEGACY_ERP_PASSWORD": PASSWORD}
    before = unmapped_codes("sku")

    erp = build_adapter("legacy", narrowed, env)
    try:
        read = await erp.get_sales_order(order.erp_id, context())
    finally:
        await erp.aclose()

    assert read is not None
    assert [line.sku for line in read.lines] == ["WIDGET-1", "FG-GADGET2"]
    assert unmapped_codes("sku") == before + 1

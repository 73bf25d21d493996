"""The SAP adapter against SAP's services as they are: every request it sends checked, with
pyodata, against the services' `$metadata`; and the adapter over the kinds of system the
simulator can be (paging, unpadded numbers, a newer release, warnings, a tenant without the
custom fields, checked by the doctor).

The simulator's metadata is rendered from the description checked against SAP's published
metadata (erp_simulators/sap/schema.py); with SAP_METADATA_DIR set to a folder of SAP's own
`<SERVICE>.edmx` files, the same requests are checked against those too.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from erp_simulators.sap import Release, SimOptions, create_app
from gateway.adapters.base import CustomerContext
from gateway.adapters.http import AiohttpTransport
from gateway.adapters.sap import SapODataAdapter
from gateway.domain.models import CreditCheck, SalesOrderStatus
from tests.canonical import order_item
from tests.contract.sap_wire import (
    RecordingTransport,
    Schema,
    Usage,
    load_schema,
    problems_with,
    service_of,
)
from tests.contract.test_sap_adapter import (
    DELIVERY,
    ORDER_LINES,
    PASSWORD,
    USER,
    context,
    customer_request,
    legacy_config,
    references,
)
from tests.fake_transport import SentRequest
from tests.servers import serve_app

ODATA = "/sap/opu/odata/sap"
CUSTOM_FIELDS = frozenset({"YY1_GatewayRef_SDH", "YY1_CreditLimit_bus"})
REAL_METADATA_ENV = "SAP_METADATA_DIR"


@pytest.fixture(scope="module")
def paged_url() -> Iterator[str]:
    """A simulator that pages every collection one entity at a time."""
    with serve_app(create_app(options=SimOptions(page_size=1))) as url:
        yield url


async def lifecycle(adapter: SapODataAdapter, sim: httpx.AsyncClient) -> dict[str, Any]:
    """Every operation of the adapter once, an order taken through fulfilment to paid."""
    ctx = context()
    refs = references()
    customer = await adapter.create_customer(customer_request("DE01"), refs, ctx)
    assert await adapter.get_customer(customer.erp_id, ctx) == customer
    assert await adapter.find_customer_by_gateway_ref(refs.gateway_ref, ctx) == customer
    who = CustomerContext(erp_id=customer.erp_id, legal_entity="DE01")
    quote = await adapter.validate_quote("DE01", who, "EUR", DELIVERY, ORDER_LINES, ctx)
    order_refs = references()
    order = await adapter.create_sales_order(
        "DE01", who, "EUR", DELIVERY, ORDER_LINES, order_refs, ctx
    )
    assert await adapter.find_sales_order_by_gateway_ref(order_refs.gateway_ref, ctx) == order
    stages = {}
    for stage in ("in_fulfillment", "shipped", "invoiced", "paid"):
        advanced = await sim.post("/_sim/advance", json={"to": stage, "sales_order": order.erp_id})
        advanced.raise_for_status()
        read = await adapter.get_sales_order(order.erp_id, ctx)
        assert read is not None
        stages[stage] = read.status
    shipments = await adapter.list_shipments(order.erp_id, ctx)
    invoices = await adapter.list_invoices(order.erp_id, ctx)
    assert await adapter.get_shipment(shipments[0].erp_id, ctx) == shipments[0]
    assert await adapter.get_invoice(invoices[0].erp_id, ctx) == invoices[0]
    other = await adapter.create_sales_order(
        "DE01", who, "EUR", None, ORDER_LINES, references(), ctx
    )
    cancelled = await adapter.cancel_sales_order(other.erp_id, ctx)
    return {
        "customer": customer,
        "quote": quote,
        "order": order,
        "stages": stages,
        "shipments": shipments,
        "invoices": invoices,
        "cancelled": cancelled,
    }


async def recorded_lifecycle(url: str) -> tuple[list[SentRequest], dict[str, Any]]:
    transport = RecordingTransport(url)
    adapter = SapODataAdapter("legacy", legacy_config(url), transport, USER, PASSWORD)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as sim:
            results = await lifecycle(adapter, sim)
    finally:
        await adapter.aclose()
    return transport.sent, results


def simulator_schemas(url: str, services: set[str]) -> dict[str, Schema]:
    with httpx.Client(base_url=url, auth=(USER, PASSWORD), timeout=5) as client:
        return {
            service: load_schema(client.get(f"{ODATA}/{service}/$metadata").content)
            for service in services
        }


def real_schemas(folder: Path) -> dict[str, Schema]:
    """SAP's own metadata documents, one `<SERVICE>.edmx` per service."""
    return {
        path.stem: load_schema(path.read_bytes(), lenient=True) for path in folder.glob("*.edmx")
    }


def all_problems(
    sent: list[SentRequest],
    schemas: dict[str, Schema],
    usage: Usage,
    tolerated: frozenset[str] = frozenset(),
) -> list[str]:
    return [
        problem
        for request in sent
        if (service := service_of(request)) in schemas
        for problem in problems_with(request, schemas[service], usage, tolerated)
    ]


async def test_every_request_the_adapter_sends_is_declared_by_the_services_metadata(
    paged_url: str,
) -> None:
    sent, results = await recorded_lifecycle(paged_url)
    services = {s for r in sent if (s := service_of(r)) is not None}
    usage = Usage()

    problems = all_problems(sent, simulator_schemas(paged_url, services), usage)

    assert problems == []
    assert {name for _, name in usage.entity_sets} >= {
        "A_BusinessPartner",
        "A_SalesOrder",
        "A_SalesOrderItem",
        "A_SalesOrderSimulation",
        "A_OutbDeliveryHeader",
        "A_OutbDeliveryItem",
        "A_BillingDocument",
        "A_BillingDocumentItem",
    }
    # the navigations the simulation answers under, and the tax the billing document has
    assert ("A_SalesOrderPricingSimulationType", "TotalNetAmount") not in usage.properties
    assert ("A_BillingDocumentType", "TaxAmount") in usage.properties
    assert results["stages"] == {
        "in_fulfillment": SalesOrderStatus.IN_FULFILLMENT,
        "shipped": SalesOrderStatus.SHIPPED,
        "invoiced": SalesOrderStatus.INVOICED,
        "paid": SalesOrderStatus.PAID,
    }
    # one entity a page: the follow-on documents' two items came from two pages
    assert any("$skiptoken" in (r.params or {}) for r in sent)
    assert results["invoices"][0].tax_amount == Decimal("39.70")


@pytest.mark.skipif(
    not os.environ.get(REAL_METADATA_ENV),
    reason=f"{REAL_METADATA_ENV} names no folder of SAP's own <SERVICE>.edmx files",
)
async def test_every_request_the_adapter_sends_is_declared_by_saps_own_metadata(
    paged_url: str,
) -> None:
    sent, _ = await recorded_lifecycle(paged_url)
    schemas = real_schemas(Path(os.environ[REAL_METADATA_ENV]))

    # The custom fields are the tenant's own: SAP's published metadata cannot have them.
    problems = all_problems(sent, schemas, Usage(), CUSTOM_FIELDS)

    assert schemas and problems == []


def test_the_check_reports_what_the_metadata_does_not_declare(paged_url: str) -> None:
    schemas = simulator_schemas(paged_url, {"API_SALES_ORDER_SRV"})
    request = SentRequest(
        "POST",
        ODATA + "/API_SALES_ORDER_SRV/A_SalesOrder",
        {"$select": "SalesOrder,OverallDeliveryStatus", "$expand": "to_Items"},
        {},
        {"SoldToParty": "1", "to_Item": {"results": [{"NetPriceAmount": "1.00"}]}},
        None,
        None,
    )

    problems = problems_with(request, schemas["API_SALES_ORDER_SRV"], Usage())

    assert len(problems) == 3
    assert any("no navigation to_Items" in p for p in problems)
    assert any("no property OverallDeliveryStatus" in p for p in problems)
    assert any("no property NetPriceAmount" in p for p in problems)


@pytest.mark.parametrize(
    "options",
    [
        SimOptions(unpadded_keys=True),
        SimOptions(release=Release.LATEST),
        SimOptions(unpadded_keys=True, release=Release.LATEST, page_size=1),
    ],
    ids=["unpadded", "latest", "unpadded-latest-paged"],
)
async def test_the_adapter_works_the_same_against_each_kind_of_sap_system(
    options: SimOptions,
) -> None:
    with serve_app(create_app(options=options)) as url:
        _, results = await recorded_lifecycle(url)

    assert results["order"].erp_id == results["order"].erp_id.zfill(10)
    assert results["order"].customer_erp_id == results["customer"].erp_id
    assert (results["order"].tax_amount, results["quote"].tax_amount) == (
        Decimal("39.70"),
        Decimal("39.70"),
    )
    assert results["stages"]["shipped"] is SalesOrderStatus.SHIPPED
    assert results["stages"]["paid"] is SalesOrderStatus.PAID
    assert results["shipments"][0].sales_order_erp_id == results["order"].erp_id
    assert results["cancelled"].status is SalesOrderStatus.CANCELLED


@pytest.fixture
async def adapter_on(paged_url: str) -> AsyncIterator[SapODataAdapter]:
    erp = SapODataAdapter(
        "legacy", legacy_config(paged_url), AiohttpTransport(paged_url), USER, PASSWORD
    )
    yield erp
    await erp.aclose()


async def test_a_quote_takes_totals_and_credit_from_the_simulation_navigations(
    adapter_on: SapODataAdapter,
) -> None:
    ctx = context()
    tight = await adapter_on.create_customer(
        customer_request("DE01", credit_limit=Decimal("10.00")), references(), ctx
    )
    who = CustomerContext(erp_id=tight.erp_id, legal_entity="DE01")

    quote = await adapter_on.validate_quote("DE01", who, "EUR", DELIVERY, ORDER_LINES, ctx)

    assert (quote.net_amount, quote.tax_amount, quote.total_amount) == (
        Decimal("208.97"),
        Decimal("39.70"),
        Decimal("248.67"),
    )
    assert quote.credit_check is CreditCheck.WOULD_BLOCK


async def test_warnings_sap_sends_with_a_success_reach_orders_and_quotes_in_canonical_terms(
    adapter_on: SapODataAdapter,
) -> None:
    ctx = context()
    customer = await adapter_on.create_customer(customer_request("DE01"), references(), ctx)
    who = CustomerContext(erp_id=customer.erp_id, legal_entity="DE01")
    lines = [order_item("GADGET-2", 60, Decimal("149.00"))]

    quote = await adapter_on.validate_quote("DE01", who, "EUR", DELIVERY, lines, ctx)
    order = await adapter_on.create_sales_order(
        "DE01", who, "EUR", DELIVERY, lines, references(), ctx
    )
    quiet = await adapter_on.create_sales_order(
        "DE01", who, "EUR", DELIVERY, ORDER_LINES, references(), ctx
    )

    assert [n.message for n in quote.notices] == [n.message for n in order.notices]
    [notice] = order.notices
    assert notice.message == (
        "Only 50 EA of product GADGET-2 can be confirmed for the requested delivery date; "
        "10 EA will be confirmed later"
    )
    assert notice.erp_message is not None and "material FG-GADGET2" in notice.erp_message
    assert quiet.notices == ()

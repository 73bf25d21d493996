"""The NetSuite adapter against the cloud ERP simulator over a real socket, plus pinned HTTP
shapes through a recording transport."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from erp_simulators.netsuite import create_app
from erp_simulators.netsuite.integrations import (
    DEMO_ACCOUNT_ID,
    DEMO_INTEGRATION,
    DEMO_PUBLIC_KEY,
    Integrations,
)
from erp_simulators.netsuite.tba import TbaError, TbaVerifier
from gateway.adapters.base import CallContext, CustomerContext, References
from gateway.adapters.http import remaining_seconds
from gateway.adapters.netsuite import NetSuiteRestAdapter, build_netsuite_adapter
from gateway.adapters.netsuite.client import MAX_PAGES, PAGE_SIZE
from gateway.adapters.netsuite.credentials import netsuite_credentials
from gateway.adapters.netsuite.tokens import BearerTokens
from gateway.config.backends import NetSuiteBackend
from gateway.demo import SIMULATOR_CREDENTIALS
from gateway.domain.errors import Code, ErpFailure, GatewayError, GatewayReferenceTaken
from gateway.domain.models import (
    AddressType,
    CreditCheck,
    CustomerCreate,
    CustomerStatus,
    HoldReason,
    InvoiceStatus,
    OrderItem,
    SalesOrderStatus,
    ShipmentStatus,
)
from tests.canonical import order_item
from tests.fake_transport import FakeTransport, empty_response, json_response
from tests.netsuite_auth import TOKEN_PATH, assertion, token_form
from tests.servers import free_port, serve_app

REPO = Path(__file__).resolve().parents[2]
CLIENT_ID = SIMULATOR_CREDENTIALS["CLOUD_ERP_CLIENT_ID"]
# The two ways NetSuite lets an integration log in; the simulator's demo integration has both.
AUTH_METHODS: dict[str, dict[str, str] | None] = {
    "client_credentials": None,  # as backends/cloud.yaml has it
    "token_based": {
        "method": "token_based",
        "account_id": DEMO_ACCOUNT_ID,
        "consumer_key_env": "CLOUD_ERP_CONSUMER_KEY",
        "consumer_secret_env": "CLOUD_ERP_CONSUMER_SECRET",
        "token_id_env": "CLOUD_ERP_TOKEN_ID",
        "token_secret_env": "CLOUD_ERP_TOKEN_SECRET",
    },
}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
RECORDS = "/services/rest/record/v1"
ADDRESSES = {
    "US01": {
        "line1": "1 Main St",
        "city": "Austin",
        "postal_code": "78701",
        "region": "TX",
        "country": "US",
    },
    "CA01": {"line1": "2 Bay St", "city": "Toronto", "postal_code": "M5J 2N8", "country": "CA"},
    "DE01": {"line1": "Hauptstr. 5", "city": "Berlin", "postal_code": "10115", "country": "DE"},
}
CURRENCIES = {"US01": "USD", "CA01": "CAD", "DE01": "EUR"}
ORDER_LINES = [
    order_item("WIDGET-1", 3, Decimal("19.99")),
    order_item("GADGET-2", 1, Decimal("149.00")),
]


def backend_config(
    base_url: str = "http://127.0.0.1:9",
    method: str = "client_credentials",
    **extra_maps: dict[str, str],
) -> NetSuiteBackend:
    """backends/cloud.yaml as the gateway loads it, pointed at `base_url`, logging in by
    `method`."""
    raw = yaml.safe_load((REPO / "backends" / "cloud.yaml").read_text())
    raw["base_url"] = base_url
    raw["auth"] = AUTH_METHODS[method] or raw["auth"]
    for name, entries in extra_maps.items():
        raw["value_maps"][name].update(entries)
    return NetSuiteBackend.model_validate(raw)


def context(deadline_s: float = 5.0, correlation_id: str = "corr-netsuite-1") -> CallContext:
    return CallContext(
        correlation_id, TRACEPARENT, "vendor=1", deadline=time.monotonic() + deadline_s
    )


def customer_request(legal_entity: str = "US01", **overrides: Any) -> CustomerCreate:
    body: dict[str, Any] = {
        "external_ref": "CRM-ACC-1001",
        "legal_entity": legal_entity,
        "legal_name": "Acme Corp",
        "tax_id": f"{legal_entity[:2]}123456789",
        "email": "ap@acme.example",
        "currency": CURRENCIES[legal_entity],
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "addresses": [{**ADDRESSES[legal_entity], "type": AddressType.BILLING}],
    }
    body.update(overrides)
    return CustomerCreate.model_validate(body)


_refs = iter(range(10**6))


def refs(external_ref: str | None = "CRM-OPP-77") -> References:
    return References(external_ref, f"gw-TEST{next(_refs):022d}")


# --- against the simulator --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_app(create_app()) as url:
        yield url


@pytest.fixture
async def sim(sim_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim_url, timeout=5) as client:
        yield client
        await client.delete("/_sim/faults")


def make_adapter(
    url: str, method: str = "client_credentials", **extra_maps: dict[str, str]
) -> NetSuiteRestAdapter:
    """The adapter as the gateway builds it, with the demo credentials the simulator trusts."""
    return build_netsuite_adapter(
        "cloud", backend_config(url, method, **extra_maps), SIMULATOR_CREDENTIALS
    )


@pytest.fixture(params=list(AUTH_METHODS))
async def adapter(
    sim_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[NetSuiteRestAdapter]:
    """The adapter logging in each way NetSuite allows: every test using it runs with both."""
    erp = make_adapter(sim_url, request.param)
    yield erp
    await erp.aclose()


@pytest.fixture
async def oauth2_adapter(sim_url: str) -> AsyncIterator[NetSuiteRestAdapter]:
    """The adapter with OAuth 2.0 client credentials, for what concerns its bearer tokens."""
    erp = make_adapter(sim_url)
    yield erp
    await erp.aclose()


async def erp_record(sim: httpx.AsyncClient, record_type: str, key: str) -> dict[str, Any]:
    """A record as the ERP holds it (read with a token of the test's own)."""
    form = token_form(assertion(str(sim.base_url)))
    token = (await sim.post(TOKEN_PATH, data=form)).json()["access_token"]
    response = await sim.get(
        f"{RECORDS}/{record_type}/{key}",
        params={"expandSubResources": "true"},
        headers={"Authorization": f"Bearer {token}"},
    )
    record: dict[str, Any] = response.json()
    return record


async def requests_seen(sim: httpx.AsyncClient, method: str) -> int:
    log = (await sim.get("/_sim/requests", params={"limit": 500})).json()["requests"]
    return sum(1 for r in log if r["method"] == method)


async def stats(sim: httpx.AsyncClient) -> dict[str, int]:
    body: dict[str, int] = (await sim.get("/_sim/stats")).json()
    return body


async def tokens_issued(sim: httpx.AsyncClient) -> int:
    issued: int = (await sim.get("/_sim/tokens")).json()["issued"]
    return issued


async def new_customer(
    adapter: NetSuiteRestAdapter, legal_entity: str = "US01", **overrides: Any
) -> CustomerContext:
    created = await adapter.create_customer(
        customer_request(legal_entity, **overrides), refs("CRM-ACC-1001"), context()
    )
    return CustomerContext(created.erp_id, legal_entity)


async def new_order(
    adapter: NetSuiteRestAdapter,
    customer: CustomerContext,
    lines: list[OrderItem] = ORDER_LINES,
    legal_entity: str | None = None,
) -> Any:
    legal_entity = legal_entity or customer.legal_entity
    return await adapter.create_sales_order(
        legal_entity,
        customer,
        CURRENCIES[legal_entity],
        dt.date(2026, 12, 15),
        lines,
        refs(),
        context(),
    )


def assert_canonical(error: GatewayError, said: str, canonical: str) -> None:
    """The problem speaks the client's terms (`canonical`), in its detail and each field's;
    what NetSuite said, internal ids and all (`said`), is kept as `erp_message` only."""
    assert error.erp_message is not None and said in error.erp_message, error.erp_message
    for text in (error.detail, *(e.detail for e in error.errors)):
        assert canonical in text and said not in text, text


def assert_business(error: GatewayError, code: Code, pointer: str) -> None:
    assert error.code is code, error
    assert error.status == 422
    assert pointer in [e.pointer for e in error.errors], error.errors
    assert error.detail


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
async def test_a_customer_is_created_in_its_subsidiary_and_reads_back(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient, legal_entity: str
) -> None:
    before = (await stats(sim))["customers"]
    reference = refs("CRM-ACC-1001")
    created = await adapter.create_customer(customer_request(legal_entity), reference, context())
    assert created.document_number.startswith("CUST-")
    assert created.status is CustomerStatus.ACTIVE
    assert (created.legal_entity, created.currency, created.payment_terms) == (
        legal_entity,
        CURRENCIES[legal_entity],
        "NET30",
    )
    assert (created.external_ref, created.gateway_ref) == ("CRM-ACC-1001", reference.gateway_ref)
    assert created.credit_limit == Decimal("50000.00")
    assert created.addresses[0].city == ADDRESSES[legal_entity]["city"]
    assert (await stats(sim))["customers"] == before + 1
    read = await adapter.get_customer(created.erp_id, context())
    assert read == created


async def test_a_customer_is_found_by_its_gateway_reference_and_an_unknown_one_is_none(
    adapter: NetSuiteRestAdapter,
) -> None:
    reference = refs()
    created = await adapter.create_customer(customer_request(), reference, context())
    found = await adapter.find_customer_by_gateway_ref(reference.gateway_ref, context())
    assert found is not None and found.erp_id == created.erp_id
    assert await adapter.find_customer_by_gateway_ref("gw-NEVERSENT", context()) is None
    assert await adapter.get_customer("999999", context()) is None


async def test_creating_twice_with_one_gateway_reference_answers_the_first_record(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    reference = refs()
    first = await adapter.create_customer(customer_request(), reference, context())
    before = (await stats(sim))["customers"]
    again = await adapter.create_customer(customer_request(), reference, context())
    assert again.erp_id == first.erp_id
    assert (await stats(sim))["customers"] == before


async def test_a_gateway_reference_reused_for_another_request_is_refused_not_answered(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    reference = refs()
    await adapter.create_customer(customer_request(), reference, context())
    before = (await stats(sim))["customers"]
    with pytest.raises(GatewayReferenceTaken):
        await adapter.create_customer(
            customer_request(legal_name="Someone Else Ltd"), reference, context()
        )
    assert (await stats(sim))["customers"] == before


async def test_an_order_is_created_read_back_and_found_by_its_gateway_reference(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    customer = await new_customer(adapter)
    before = (await stats(sim))["sales_orders"]
    reference = refs("CRM-OPP-77")
    order = await adapter.create_sales_order(
        "US01", customer, "USD", dt.date(2026, 12, 15), ORDER_LINES, reference, context()
    )
    assert (await stats(sim))["sales_orders"] == before + 1
    assert order.document_number.startswith("SO-")
    assert (order.status, order.hold_reason) == (SalesOrderStatus.ACCEPTED, None)
    assert order.customer_erp_id == customer.erp_id
    assert [(ln.sku, ln.quantity, ln.amount) for ln in order.lines] == [
        ("WIDGET-1", 3, Decimal("59.97")),
        ("GADGET-2", 1, Decimal("149.00")),
    ]
    assert (order.net_amount, order.tax_amount, order.total_amount) == (
        Decimal("208.97"),
        Decimal("17.24"),
        Decimal("226.21"),
    )
    assert (order.external_ref, order.gateway_ref) == ("CRM-OPP-77", reference.gateway_ref)
    assert order.requested_delivery_date == dt.date(2026, 12, 15)
    assert await adapter.get_sales_order(order.erp_id, context()) == order
    found = await adapter.find_sales_order_by_gateway_ref(reference.gateway_ref, context())
    assert found is not None and found.erp_id == order.erp_id
    assert await adapter.find_sales_order_by_gateway_ref("gw-NEVERSENT", context()) is None


async def test_an_adapters_calls_share_one_keep_alive_connection_the_simulator_counts_once(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient, sim_url: str
) -> None:
    before = await stats(sim)
    customer = await new_customer(adapter)  # its login, the create and the read-back
    for _ in range(20):
        assert await adapter.get_customer(customer.erp_id, context()) is not None
    after = await stats(sim)
    assert after["requests"] - before["requests"] >= 22
    assert after["connections"] - before["connections"] == 1
    other = make_adapter(sim_url)
    try:
        assert await other.get_customer(customer.erp_id, context()) is not None
    finally:
        await other.aclose()
    assert (await stats(sim))["connections"] - after["connections"] == 1


async def test_cancelling_an_open_order_closes_its_lines_in_the_erp_once(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    order = await new_order(adapter, await new_customer(adapter))
    cancelled = await adapter.cancel_sales_order(order.erp_id, context())
    assert cancelled.status is SalesOrderStatus.CANCELLED
    read = await adapter.get_sales_order(order.erp_id, context())
    assert read is not None and read.status is SalesOrderStatus.CANCELLED
    record = await erp_record(sim, "salesOrder", order.erp_id)
    assert record["orderStatus"]["id"] == "H"  # Closed: NetSuite's way, not C
    assert all(line["isClosed"] for line in record["item"]["items"])
    patches = await requests_seen(sim, "PATCH")
    again = await adapter.cancel_sales_order(order.erp_id, context())
    assert again.status is SalesOrderStatus.CANCELLED
    assert await requests_seen(sim, "PATCH") == patches  # nothing left to close


async def test_after_the_erp_moves_on_the_order_shows_its_shipments_and_invoices(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    order = await new_order(adapter, await new_customer(adapter, "DE01"))
    assert await adapter.list_shipments(order.erp_id, context()) == []

    await sim.post("/_sim/advance", json={"to": "in_fulfillment", "sales_order": order.erp_id})
    in_fulfillment = await adapter.get_sales_order(order.erp_id, context())
    assert in_fulfillment is not None and in_fulfillment.status is SalesOrderStatus.IN_FULFILLMENT
    [picked] = await adapter.list_shipments(order.erp_id, context())
    assert (picked.status, picked.shipped_at) == (ShipmentStatus.PENDING, None)

    await sim.post("/_sim/advance", json={"to": "shipped", "sales_order": order.erp_id})
    [shipment] = await adapter.list_shipments(order.erp_id, context())
    assert shipment.status is ShipmentStatus.SHIPPED
    assert shipment.sales_order_erp_id == order.erp_id
    assert shipment.shipped_at is not None
    assert [(ln.sku, ln.quantity) for ln in shipment.lines] == [("WIDGET-1", 3), ("GADGET-2", 1)]
    assert await adapter.get_shipment(shipment.erp_id, context()) == shipment
    shipped = await adapter.get_sales_order(order.erp_id, context())
    assert shipped is not None and shipped.status is SalesOrderStatus.SHIPPED

    await sim.post("/_sim/advance", json={"to": "invoiced", "sales_order": order.erp_id})
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
    assert invoice.due_date is not None and invoice.invoice_date is not None
    assert await adapter.get_invoice(invoice.erp_id, context()) == invoice
    invoiced = await adapter.get_sales_order(order.erp_id, context())
    assert invoiced is not None and invoiced.status is SalesOrderStatus.INVOICED

    await sim.post("/_sim/advance", json={"to": "paid", "sales_order": order.erp_id})
    paid = await adapter.get_sales_order(order.erp_id, context())
    assert paid is not None and paid.status is SalesOrderStatus.PAID
    assert (await adapter.list_invoices(order.erp_id, context()))[0].status is InvoiceStatus.PAID


async def test_cancelling_a_shipped_order_is_refused_as_invalid_state(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    order = await new_order(adapter, await new_customer(adapter))
    await sim.post("/_sim/advance", json={"to": "shipped", "sales_order": order.erp_id})
    with pytest.raises(GatewayError) as raised:
        await adapter.cancel_sales_order(order.erp_id, context())
    assert raised.value.code is Code.INVALID_STATE
    assert "cannot be cancelled" in raised.value.detail
    read = await adapter.get_sales_order(order.erp_id, context())
    assert read is not None and read.status is SalesOrderStatus.SHIPPED  # nothing was closed


async def test_a_quote_is_priced_taxed_and_credit_checked_without_creating_anything(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    customer = await new_customer(adapter, credit_limit="300.00")
    before = await stats(sim)
    quote = await adapter.validate_quote("US01", customer, "USD", None, ORDER_LINES, context())
    assert (quote.net_amount, quote.tax_amount, quote.total_amount) == (
        Decimal("208.97"),
        Decimal("17.24"),
        Decimal("226.21"),
    )
    assert [(ln.sku, ln.amount) for ln in quote.lines] == [
        ("WIDGET-1", Decimal("59.97")),
        ("GADGET-2", Decimal("149.00")),
    ]
    assert quote.credit_check is CreditCheck.PASSED
    after = await stats(sim)
    assert (after["customers"], after["sales_orders"]) == (
        before["customers"],
        before["sales_orders"],
    )

    # The first order uses 226.21 of the 300.00: the same again would be held, as NetSuite holds.
    await new_order(adapter, customer)
    again = await adapter.validate_quote("US01", customer, "USD", None, ORDER_LINES, context())
    assert again.credit_check is CreditCheck.WOULD_BLOCK
    held = await new_order(adapter, customer)
    assert (held.status, held.hold_reason) == (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)


async def test_a_quote_with_a_stale_price_is_refused_from_reads(
    adapter: NetSuiteRestAdapter,
) -> None:
    customer = await new_customer(adapter)
    stale = [ORDER_LINES[0], order_item("GADGET-2", 1, Decimal("99.00"))]
    with pytest.raises(GatewayError) as raised:
        await adapter.validate_quote("US01", customer, "USD", None, stale, context())
    assert_business(raised.value, Code.PRICE_MISMATCH, "/items/1/price/amount")
    other = CustomerContext(customer.erp_id, "CA01")
    with pytest.raises(GatewayError) as raised:
        await adapter.validate_quote("CA01", other, "CAD", None, ORDER_LINES, context())
    assert_business(raised.value, Code.CUSTOMER_LEGAL_ENTITY_MISMATCH, "/customer_id")


async def test_an_order_over_the_credit_limit_is_saved_on_credit_hold(
    adapter: NetSuiteRestAdapter,
) -> None:
    order = await new_order(adapter, await new_customer(adapter, credit_limit="100.00"))
    assert (order.status, order.hold_reason) == (SalesOrderStatus.ON_HOLD, HoldReason.CREDIT)


# --- business refusals ------------------------------------------------------------------------


async def test_an_unknown_sku_is_refused_by_line_before_or_by_the_erp(
    sim_url: str, sim: httpx.AsyncClient
) -> None:
    # NOPE-9 maps to an item id the ERP does not have: NetSuite itself refuses that line.
    erp = make_adapter(sim_url, skus={"NOPE-9": "9999"})
    try:
        customer = await new_customer(erp)
        before = (await stats(sim))["sales_orders"]
        for sku in ("NO-SUCH-SKU", "NOPE-9"):
            line = order_item(sku, 1, Decimal("1.00"))
            with pytest.raises(GatewayError) as raised:
                await new_order(erp, customer, [ORDER_LINES[0], line])
            assert_business(raised.value, Code.UNKNOWN_SKU, "/items/1/product_id")
        assert (await stats(sim))["sales_orders"] == before
        # NetSuite named item 9999: the client reads the SKU, support keeps NetSuite's words.
        assert_canonical(raised.value, said="9999", canonical="NOPE-9")
    finally:
        await erp.aclose()


async def test_a_currency_the_value_maps_lack_is_refused_before_anything_is_sent(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    customer = await new_customer(adapter)
    before = await stats(sim)
    attempts: list[Callable[[], Awaitable[Any]]] = [
        lambda: adapter.create_customer(customer_request(currency="CHF"), refs(), context()),
        lambda: adapter.create_sales_order(
            "US01", customer, "CHF", None, ORDER_LINES, refs(), context()
        ),
        lambda: adapter.validate_quote("US01", customer, "CHF", None, ORDER_LINES, context()),
    ]

    for attempt in attempts:
        with pytest.raises(GatewayError) as raised:
            await attempt()
        assert_business(raised.value, Code.ERP_REJECTED, "/currency")
        assert raised.value.detail == "Currency CHF is not set up in the ERP."

    # Not sent as its name, nor as anything else: the ERP saw no request at all.
    assert (await stats(sim))["requests"] == before["requests"]


async def test_a_stale_price_is_refused_by_the_erp_at_that_line(
    adapter: NetSuiteRestAdapter,
) -> None:
    customer = await new_customer(adapter)
    stale = [ORDER_LINES[0], order_item("GADGET-2", 1, Decimal("99.00"))]
    with pytest.raises(GatewayError) as raised:
        await new_order(adapter, customer, stale)
    assert_business(raised.value, Code.PRICE_MISMATCH, "/items/1/price/amount")
    assert "149.00" in raised.value.detail  # NetSuite's own words tell the CRM user the price
    assert_canonical(raised.value, said="item 1002", canonical="GADGET-2")


async def test_an_eu_customer_without_a_tax_id_is_refused_by_the_erp(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    before = (await stats(sim))["customers"]
    with pytest.raises(GatewayError) as raised:
        await adapter.create_customer(customer_request("DE01", tax_id=None), refs(), context())
    assert_business(raised.value, Code.TAX_ID_REQUIRED, "/tax_id")
    assert (await stats(sim))["customers"] == before
    assert_canonical(raised.value, said="subsidiary 4", canonical="legal entity DE01")


async def test_payment_terms_are_refused_when_unmapped_or_unknown_to_the_erp(
    sim_url: str, sim: httpx.AsyncClient
) -> None:
    # NET90 maps to a term id the ERP does not have: NetSuite itself refuses the terms.
    erp = make_adapter(sim_url, payment_terms={"NET90": "9"})
    try:
        before = (await stats(sim))["requests"]
        with pytest.raises(GatewayError) as raised:
            await erp.create_customer(customer_request(payment_terms="NET99"), refs(), context())
        assert_business(raised.value, Code.INVALID_PAYMENT_TERMS, "/payment_terms")
        assert (await stats(sim))["requests"] == before  # refused without calling the ERP
        with pytest.raises(GatewayError) as raised:
            await erp.create_customer(customer_request(payment_terms="NET90"), refs(), context())
        assert_business(raised.value, Code.INVALID_PAYMENT_TERMS, "/payment_terms")
        assert_canonical(raised.value, said="Value 9 ", canonical="NET90")
    finally:
        await erp.aclose()


async def test_an_order_for_a_customer_of_another_subsidiary_is_refused_by_the_erp(
    adapter: NetSuiteRestAdapter,
) -> None:
    us_customer = await new_customer(adapter)
    with pytest.raises(GatewayError) as raised:
        await new_order(adapter, CustomerContext(us_customer.erp_id, "CA01"), legal_entity="CA01")
    assert_business(raised.value, Code.CUSTOMER_LEGAL_ENTITY_MISMATCH, "/customer_id")
    assert_canonical(
        raised.value, said=f"key {us_customer.erp_id} for subsidiary 3", canonical="CA01"
    )
    assert us_customer.erp_id not in raised.value.detail


async def test_an_order_for_a_customer_the_erp_does_not_know_is_customer_not_found(
    adapter: NetSuiteRestAdapter,
) -> None:
    with pytest.raises(GatewayError) as raised:
        await new_order(adapter, CustomerContext("999999", "US01"))
    assert_business(raised.value, Code.CUSTOMER_NOT_FOUND, "/customer_id")


# --- mechanics ----------------------------------------------------------------------------------


async def test_an_expired_token_is_renewed_once_and_the_call_succeeds(
    oauth2_adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    before = await tokens_issued(sim)
    customer = await new_customer(oauth2_adapter)
    assert await tokens_issued(sim) == before + 1
    await sim.post("/_sim/tokens/expire")
    read = await oauth2_adapter.get_customer(customer.erp_id, context())
    assert read is not None and read.erp_id == customer.erp_id
    assert await tokens_issued(sim) == before + 2


async def test_concurrent_first_calls_share_one_token_fetch(
    oauth2_adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    before = await tokens_issued(sim)
    results = await asyncio.gather(
        *(oauth2_adapter.get_customer("999999", context()) for _ in range(20))
    )
    assert results == [None] * 20
    assert await tokens_issued(sim) == before + 1


async def test_correlation_id_and_trace_context_arrive_at_the_erp(
    oauth2_adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    ctx = context(correlation_id="corr-trace-check-42")
    await oauth2_adapter.get_customer("999999", ctx)
    seen = (await sim.get("/_sim/requests", params={"limit": 50})).json()["requests"]
    mine = [r for r in seen if r["headers"].get("x-correlation-id") == "corr-trace-check-42"]
    assert {r["path"] for r in mine} >= {TOKEN_PATH, f"{RECORDS}/customer/999999"}
    for request in mine:
        assert request["headers"]["traceparent"] == TRACEPARENT
        assert request["headers"]["tracestate"] == "vendor=1"


async def test_an_erp_that_does_not_answer_is_erp_timeout_within_the_deadline(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    customer = await new_customer(adapter)
    fault = {"mode": "timeout", "latency_ms": 3000, "operations": ["customers.read"]}
    await sim.post("/_sim/faults", json=fault)
    started = time.monotonic()
    with pytest.raises(ErpFailure) as raised:
        await adapter.get_customer(customer.erp_id, context(deadline_s=0.5))
    assert raised.value.code is Code.ERP_TIMEOUT
    assert raised.value.retryable
    assert time.monotonic() - started < 1.0


async def test_an_erp_error_is_erp_unavailable_and_a_garbled_answer_erp_bad_response(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    customer = await new_customer(adapter)
    await sim.post(
        "/_sim/faults", json={"mode": "error", "status": 503, "operations": ["customers.read"]}
    )
    with pytest.raises(ErpFailure) as raised:
        await adapter.get_customer(customer.erp_id, context())
    assert raised.value.code is Code.ERP_UNAVAILABLE
    await sim.post(
        "/_sim/faults", json={"mode": "malformed", "operations": ["sales_orders.create"]}
    )
    with pytest.raises(ErpFailure) as raised:
        await new_order(adapter, customer)
    assert raised.value.code is Code.ERP_BAD_RESPONSE


async def test_a_create_whose_answer_is_lost_is_ambiguous_and_found_by_its_reference(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient
) -> None:
    fault = {"mode": "commit_then_timeout", "latency_ms": 2000, "operations": ["customers.create"]}
    await sim.post("/_sim/faults", json=fault)
    reference = refs()
    with pytest.raises(ErpFailure) as raised:
        await adapter.create_customer(customer_request(), reference, context(deadline_s=0.5))
    assert (raised.value.code, raised.value.ambiguous) == (Code.ERP_TIMEOUT, True)
    await sim.delete("/_sim/faults")
    found = await adapter.find_customer_by_gateway_ref(reference.gateway_ref, context())
    assert found is not None and found.legal_name == "Acme Corp"


async def test_ping_is_true_for_a_live_erp_and_false_for_an_unreachable_one(
    adapter: NetSuiteRestAdapter,
) -> None:
    assert await adapter.ping(context()) is True
    dead = make_adapter(f"http://127.0.0.1:{free_port()}")
    try:
        assert await dead.ping(context(deadline_s=1.0)) is False
    finally:
        await dead.aclose()


def test_the_factory_names_a_missing_credential_variable() -> None:
    config = backend_config()
    with pytest.raises(ValueError, match="CLOUD_ERP_CERTIFICATE_ID, CLOUD_ERP_PRIVATE_KEY"):
        build_netsuite_adapter("cloud", config, {"CLOUD_ERP_CLIENT_ID": "x"})
    adapter = build_netsuite_adapter("cloud", config, SIMULATOR_CREDENTIALS)
    assert (adapter.name, adapter.kind) == ("cloud", "netsuite-rest")


@pytest.mark.parametrize("method", list(AUTH_METHODS))
async def test_past_netsuites_concurrency_limit_a_call_is_erp_unavailable_to_retry(
    method: str,
) -> None:
    # An account of its own: requests other tests left hanging would count against the limit.
    with serve_app(create_app(concurrency_limit=1)) as url:
        erp = make_adapter(url, method)
        async with httpx.AsyncClient(base_url=url, timeout=5) as sim:
            try:
                customer = await new_customer(erp)
                fault = {"mode": "latency", "latency_ms": 800, "operations": ["customers.read"]}
                await sim.post("/_sim/faults", json=fault)
                held = asyncio.create_task(erp.get_customer(customer.erp_id, context()))
                deadline = time.monotonic() + 5
                while not (await sim.get("/_sim/governance")).json()["in_flight"]:
                    assert time.monotonic() < deadline, "the held call never arrived"
                    await asyncio.sleep(0.01)
                with pytest.raises(ErpFailure) as raised:
                    await erp.create_customer(customer_request(), refs(), context())
                assert (await held) is not None
                assert (await stats(sim))["customers"] == 1
            finally:
                await erp.aclose()
    assert raised.value.code is Code.ERP_UNAVAILABLE
    assert raised.value.retryable and not raised.value.ambiguous  # NetSuite did nothing
    assert raised.value.headers == {"Retry-After": "1"}


@pytest.mark.parametrize("method", list(AUTH_METHODS))
async def test_the_doctor_finds_a_ready_account_ready(sim_url: str, method: str) -> None:
    erp = make_adapter(sim_url, method)
    try:
        checks = await erp.diagnose(context())
    finally:
        await erp.aclose()
    assert [c for c in checks if not c.ok] == []
    names = [c.name for c in checks]
    assert names[0] == "login"
    assert {"record type salesOrder", "custom field salesOrder.custbody_credit_hold"} <= set(names)
    assert {"value map legal_entities.US01", "value map skus.WIDGET-1"} <= set(names)
    assert "value map currencies.EUR" in names and "value map payment_terms.NET60" in names


async def test_the_doctor_names_a_missing_custom_field_and_wrong_value_maps_with_fixes() -> None:
    with serve_app(create_app(custom_fields=False)) as url:
        maps = {"skus": {"GHOST-1": "9999"}, "currencies": {"JPY": "2"}}
        erp = make_adapter(url, **maps)
        try:
            failed = {c.name: c.message for c in await erp.diagnose(context()) if not c.ok}
        finally:
            await erp.aclose()
    assert set(failed) == {
        "custom field salesOrder.custbody_credit_hold",
        "value map skus.GHOST-1",
        "value map currencies.JPY",
    }
    assert "Transaction Body Field" in failed["custom field salesOrder.custbody_credit_hold"]
    assert "internal id 9999" in failed["value map skus.GHOST-1"]
    assert "is GBP, not JPY" in failed["value map currencies.JPY"]
    assert all("Fix:" in message for message in failed.values())


@pytest.mark.parametrize(
    ("method", "variable", "fix"),
    [
        ("client_credentials", "CLOUD_ERP_CERTIFICATE_ID", "certificate nope is mapped"),
        ("token_based", "CLOUD_ERP_TOKEN_SECRET", "Access Tokens"),
    ],
)
async def test_the_doctor_stops_at_a_refused_login_and_says_what_to_check(
    sim_url: str, method: str, variable: str, fix: str
) -> None:
    credentials = {**SIMULATOR_CREDENTIALS, variable: "nope"}
    erp = build_netsuite_adapter("cloud", backend_config(sim_url, method), credentials)
    try:
        checks = await erp.diagnose(context())
    finally:
        await erp.aclose()
    assert [(c.name, c.ok) for c in checks] == [("login", False)]
    assert fix in checks[0].message


# --- pinned HTTP shapes (recording transport) ---------------------------------------------------

TOKEN_ANSWER = {"access_token": "tok-1", "token_type": "Bearer", "expires_in": "3600"}
PINNED_URL = "http://127.0.0.1:9"  # backend_config()'s base_url


def pinned_adapter(
    transport: FakeTransport, method: str = "client_credentials"
) -> NetSuiteRestAdapter:
    config = backend_config(PINNED_URL, method)
    credentials = netsuite_credentials("cloud", config, SIMULATOR_CREDENTIALS)
    return NetSuiteRestAdapter("cloud", config, transport, credentials)


def assert_signed_assertion(form: dict[str, str] | None) -> None:
    """A token request as NetSuite wants it: no secret, a JWT assertion the demo certificate's
    public key verifies, naming the certificate, for the token endpoint, living <= an hour."""
    assert form is not None
    assert set(form) == {"grant_type", "client_assertion_type", "client_assertion"}
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assertion = form["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert (header["kid"], header["alg"]) == (
        SIMULATOR_CREDENTIALS["CLOUD_ERP_CERTIFICATE_ID"],
        "ES256",
    )
    claims = jwt.decode(
        assertion,
        load_pem_public_key(DEMO_PUBLIC_KEY.encode()),  # the simulator's copy: independent
        algorithms=["ES256"],
        audience=PINNED_URL + TOKEN_PATH,
        issuer=CLIENT_ID,
    )
    assert claims["scope"] == ["rest_webservices"]
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert abs(claims["iat"] - time.time()) < 60


def customer_document(internal_id: str = "301") -> dict[str, Any]:
    return {
        "id": internal_id,
        "entityId": "CUST-000001",
        "externalId": "gw-PINNED",
        "companyName": "Acme Corp",
        "subsidiary": {"id": "2"},
        "currency": {"id": "1"},
        "terms": {"id": "2"},
        "creditLimit": 50000.0,
    }


def order_document() -> dict[str, Any]:
    return {
        "id": "7001",
        "tranId": "SO-000001",
        "externalId": "gw-PINNED",
        "entity": {"id": "301"},
        "currency": {"id": "1"},
        "orderStatus": {"id": "B", "refName": "Pending Fulfillment"},
        "subtotal": 59.97,
        "taxTotal": 4.95,
        "total": 64.92,
        "item": {
            "items": [{"item": {"id": "1001"}, "quantity": 3, "rate": 19.99, "amount": 59.97}]
        },
    }


async def test_a_customer_create_is_token_then_post_204_then_read_back_exactly() -> None:
    location = "https://acct.suitetalk.api.netsuite.com/services/rest/record/v1/customer/301"
    transport = FakeTransport(
        [
            json_response(200, TOKEN_ANSWER),
            empty_response(204, {"Location": location}),
            json_response(200, customer_document()),
        ]
    )
    ctx = context()
    created = await pinned_adapter(transport).create_customer(
        customer_request(), References("CRM-ACC-1001", "gw-PINNED"), ctx
    )
    assert (created.erp_id, created.document_number) == ("301", "CUST-000001")

    token, post, read = transport.sent
    assert (token.method, token.path) == ("POST", TOKEN_PATH)
    assert_signed_assertion(token.form)
    assert token.header("Authorization") is None  # no client secret, in any form
    assert (post.method, post.path, post.params) == ("POST", f"{RECORDS}/customer", None)
    assert post.headers == {
        "X-Correlation-ID": "corr-netsuite-1",
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=1",
        "Accept": "application/json",
        "Authorization": "Bearer tok-1",
    }
    assert post.json_body == {
        "externalId": "gw-PINNED",
        "accountNumber": "CRM-ACC-1001",
        "companyName": "Acme Corp",
        "isPerson": False,
        "email": "ap@acme.example",
        "subsidiary": {"id": "2"},
        "currency": {"id": "1"},
        "terms": {"id": "2"},
        "creditLimit": 50000.0,
        "vatRegNumber": "US123456789",
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "defaultShipping": True,
                    "addressBookAddress": {
                        "addr1": "1 Main St",
                        "city": "Austin",
                        "zip": "78701",
                        "state": "TX",
                        "country": {"id": "US"},
                    },
                }
            ]
        },
    }
    assert (read.method, read.path, read.params) == (
        "GET",
        f"{RECORDS}/customer/301",
        {"expandSubResources": "true"},
    )
    # The record calls within the call's deadline; the token fetch, which other calls may
    # share, within the transport's own timeout_s.
    assert {r.deadline for r in transport.sent if r.path != TOKEN_PATH} == {ctx.deadline}
    assert [r.deadline for r in transport.requests_to(TOKEN_PATH)] == [None]


async def test_a_sales_order_create_posts_exactly_this_record() -> None:
    transport = FakeTransport(
        [
            json_response(200, TOKEN_ANSWER),
            empty_response(204, {"Location": f"http://erp{RECORDS}/salesOrder/7001"}),
            json_response(200, order_document()),
        ]
    )
    order = await pinned_adapter(transport).create_sales_order(
        "US01",
        CustomerContext("301", "US01"),
        "USD",
        dt.date(2026, 12, 15),
        [ORDER_LINES[0]],
        References("CRM-OPP-77", "gw-PINNED"),
        context(),
    )
    assert (order.erp_id, order.document_number, order.status) == (
        "7001",
        "SO-000001",
        SalesOrderStatus.ACCEPTED,
    )
    post = transport.sent[1]
    assert (post.method, post.path) == ("POST", f"{RECORDS}/salesOrder")
    assert post.json_body == {
        "externalId": "gw-PINNED",
        "otherRefNum": "CRM-OPP-77",
        "entity": {"id": "301"},
        "subsidiary": {"id": "2"},
        "currency": {"id": "1"},
        "shipDate": "2026-12-15",
        "item": {
            "items": [{"item": {"id": "1001"}, "quantity": 3, "rate": 19.99, "amount": 59.97}]
        },
    }
    assert transport.sent[2].path == f"{RECORDS}/salesOrder/7001"


async def test_a_cancel_reads_the_order_closes_its_open_lines_then_reads_it_back() -> None:
    two_lines = {
        **order_document(),
        "item": {
            "items": [
                {"line": 1, "item": {"id": "1001"}, "quantity": 3, "rate": 19.99, "amount": 59.97},
                {"line": 2, "item": {"id": "1002"}, "quantity": 1, "rate": 149, "amount": 149},
            ]
        },
    }
    closed = {**two_lines, "orderStatus": {"id": "H", "refName": "Closed"}}
    transport = FakeTransport(
        [
            json_response(200, TOKEN_ANSWER),
            json_response(200, two_lines),
            empty_response(204),
            json_response(200, closed),
        ]
    )
    order = await pinned_adapter(transport).cancel_sales_order("7001", context())
    assert order.status is SalesOrderStatus.CANCELLED
    _, read, patch, read_back = transport.sent
    assert (read.method, read.path) == ("GET", f"{RECORDS}/salesOrder/7001")
    assert (patch.method, patch.path, patch.json_body) == (
        "PATCH",
        f"{RECORDS}/salesOrder/7001",
        {"item": {"items": [{"line": 1, "isClosed": True}, {"line": 2, "isClosed": True}]}},
    )
    assert read_back.path == f"{RECORDS}/salesOrder/7001"


async def test_a_token_based_call_is_signed_over_its_method_url_and_query() -> None:
    transport = FakeTransport(
        responder=lambda sent: json_response(200, {"items": [], "hasMore": False})
    )
    adapter = pinned_adapter(transport, "token_based")
    await adapter.list_shipments("7001", context())
    [sent] = transport.sent
    assert sent.params == {"q": "createdFrom ANY_OF [7001]", "limit": "1000", "offset": "0"}
    header = sent.header("Authorization")
    assert header is not None and header.startswith(f'OAuth realm="{DEMO_ACCOUNT_ID}", ')
    # The simulator's verifier, an implementation of its own, accepts exactly this request...
    verifier = TbaVerifier(DEMO_ACCOUNT_ID, Integrations([DEMO_INTEGRATION]))
    url = f"{PINNED_URL}{RECORDS}/itemFulfillment"
    query = list(sent.params.items())
    assert verifier.principal("GET", url, query, header[len("OAuth ") :]) == CLIENT_ID
    # ...and no other query.
    other = TbaVerifier(DEMO_ACCOUNT_ID, Integrations([DEMO_INTEGRATION]))
    with pytest.raises(TbaError, match="signature"):
        other.principal("GET", url, [*query[:2], ("offset", "1000")], header[len("OAuth ") :])


def list_page(first_id: int, more: bool = True) -> dict[str, Any]:
    """A full page of a `q` list: PAGE_SIZE ids from `first_id`."""
    items = [{"id": str(n)} for n in range(first_id, first_id + PAGE_SIZE)]
    return {"items": items, "count": PAGE_SIZE, "hasMore": more}


def pages_read(transport: FakeTransport) -> list[str]:
    return [r.params["offset"] for r in transport.requests_to(f"{RECORDS}/itemFulfillment")]


async def test_a_list_is_read_page_by_page_from_each_offset() -> None:
    def answer(sent: Any) -> Any:
        if sent.path == TOKEN_PATH:
            return json_response(200, TOKEN_ANSWER)
        if sent.path.startswith(f"{RECORDS}/itemFulfillment/"):
            return json_response(404, {"o:errorDetails": [{"o:errorCode": "NONEXISTENT_ID"}]})
        offset = int(sent.params["offset"])
        return json_response(200, list_page(offset, more=offset < PAGE_SIZE))

    transport = FakeTransport(responder=answer)
    assert await pinned_adapter(transport).list_shipments("7001", context()) == []
    assert pages_read(transport) == ["0", "1000"]
    reads = [r for r in transport.sent if r.path.startswith(f"{RECORDS}/itemFulfillment/")]
    assert len(reads) == 2 * PAGE_SIZE  # each record of both pages read once


async def test_a_list_whose_offset_is_ignored_is_a_bad_response_not_a_wait_for_the_deadline() -> (
    None
):
    def answer(sent: Any) -> Any:
        if sent.path == TOKEN_PATH:
            return json_response(200, TOKEN_ANSWER)
        return json_response(200, list_page(0))  # always the first page, always "more"

    transport = FakeTransport(responder=answer)
    with pytest.raises(ErpFailure) as raised:
        async with asyncio.timeout(5):  # unbounded, it pages on until the request's deadline
            await pinned_adapter(transport).list_shipments("7001", context(deadline_s=60))

    error = raised.value
    assert (error.code, error.status, error.ambiguous) == (Code.ERP_BAD_RESPONSE, 502, False)
    assert pages_read(transport) == ["0", "1000"]  # stopped at the first repeat


async def test_a_list_that_never_ends_is_cut_off_after_max_pages_as_a_bad_response() -> None:
    def answer(sent: Any) -> Any:
        if sent.path == TOKEN_PATH:
            return json_response(200, TOKEN_ANSWER)
        return json_response(200, list_page(int(sent.params["offset"])))

    transport = FakeTransport(responder=answer)
    with pytest.raises(ErpFailure) as raised:
        async with asyncio.timeout(5):
            await pinned_adapter(transport).list_invoices("7001", context(deadline_s=60))

    assert (raised.value.code, raised.value.status) == (Code.ERP_BAD_RESPONSE, 502)
    assert len(transport.requests_to(f"{RECORDS}/invoice")) == MAX_PAGES


async def test_a_401_renews_the_token_once_and_sends_the_call_again() -> None:
    unauthorized = json_response(
        401,
        {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "o:errorDetails": [
                {"detail": "Invalid login attempt.", "o:errorCode": "INVALID_LOGIN"}
            ],
        },
    )
    transport = FakeTransport(
        [
            json_response(200, TOKEN_ANSWER),
            unauthorized,
            json_response(200, {**TOKEN_ANSWER, "access_token": "tok-2"}),
            json_response(200, customer_document()),
        ]
    )
    customer = await pinned_adapter(transport).get_customer("301", context())
    assert customer is not None
    paths = [(r.method, r.path, r.header("Authorization")) for r in transport.sent]
    assert paths == [
        ("POST", TOKEN_PATH, None),
        ("GET", f"{RECORDS}/customer/301", "Bearer tok-1"),
        ("POST", TOKEN_PATH, None),
        ("GET", f"{RECORDS}/customer/301", "Bearer tok-2"),
    ]


async def test_a_second_401_is_erp_unavailable_not_a_loop() -> None:
    unauthorized = json_response(
        401, {"status": 401, "o:errorDetails": [{"detail": "no", "o:errorCode": "INVALID_LOGIN"}]}
    )
    transport = FakeTransport(
        [
            json_response(200, TOKEN_ANSWER),
            unauthorized,
            json_response(200, TOKEN_ANSWER),
            unauthorized,
        ]
    )
    with pytest.raises(ErpFailure) as raised:
        await pinned_adapter(transport).get_customer("301", context())
    assert raised.value.code is Code.ERP_UNAVAILABLE
    assert len(transport.sent) == 4


async def test_a_token_close_to_expiry_is_renewed_in_the_background_while_still_used() -> None:
    transport = FakeTransport(
        [json_response(200, {**TOKEN_ANSWER, "expires_in": "90"})],
        responder=lambda sent: (
            json_response(200, {**TOKEN_ANSWER, "access_token": "tok-2"})
            if sent.path == TOKEN_PATH
            else json_response(200, customer_document())
        ),
    )
    adapter = pinned_adapter(transport)
    await adapter.get_customer("301", context())
    # 90 s tokens are renewed after 45 s; pretend those have passed.
    tokens = adapter._client._auth
    assert isinstance(tokens, BearerTokens)
    tokens._renew_at = time.monotonic() - 1
    await adapter.get_customer("301", context())
    await asyncio.sleep(0.01)
    await adapter.get_customer("301", context())
    used = [r.header("Authorization") for r in transport.sent if r.path != TOKEN_PATH]
    assert used == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert len(transport.requests_to(TOKEN_PATH)) == 2


class _SlowTokenEndpoint:
    """A token endpoint that takes 0.3 s, each request within its deadline (as the real
    transport keeps it: `remaining_seconds`, then a timeout)."""

    async def request(
        self, method: str, path: str, *, deadline: float | None = None, **_: Any
    ) -> Any:
        try:
            async with asyncio.timeout(remaining_seconds(deadline, 10.0)):
                if path == TOKEN_PATH:
                    await asyncio.sleep(0.3)
                    return json_response(200, TOKEN_ANSWER)
                return json_response(200, customer_document())
        except TimeoutError:
            raise ErpFailure(Code.ERP_TIMEOUT, "No answer in time.", ambiguous=False) from None

    async def aclose(self) -> None:
        pass


async def test_a_token_fetch_shared_with_a_hurried_call_is_not_bound_by_its_deadline() -> None:
    # Two calls need a token at once: the one with 0.1 s left starts the fetch (0.3 s) and
    # times out; the one with 5 s left still gets its answer, not the other's timeout.
    adapter = pinned_adapter(_SlowTokenEndpoint())  # type: ignore[arg-type]
    hurried = CallContext("corr-hurried", deadline=time.monotonic() + 0.1)
    patient = CallContext("corr-patient", deadline=time.monotonic() + 5.0)
    first, second = await asyncio.gather(
        adapter.get_customer("301", hurried),
        adapter.get_customer("301", patient),
        return_exceptions=True,
    )
    assert isinstance(first, ErpFailure) and first.code is Code.ERP_TIMEOUT
    assert not isinstance(second, BaseException) and second is not None


async def test_concurrent_first_calls_wait_for_a_single_token_request() -> None:
    def answer(sent: Any) -> Any:
        if sent.path == TOKEN_PATH:
            return json_response(200, TOKEN_ANSWER)
        return json_response(200, customer_document())

    transport = FakeTransport(responder=answer)
    adapter = pinned_adapter(transport)
    await asyncio.gather(*(adapter.get_customer("301", context()) for _ in range(10)))
    assert len(transport.requests_to(TOKEN_PATH)) == 1
    assert len(transport.requests_to(f"{RECORDS}/customer/301")) == 10


@pytest.mark.parametrize("limit", ["50000.001", "50000.1234"])
async def test_a_credit_limit_finer_than_its_currency_is_refused_as_sap_refuses_it(
    adapter: NetSuiteRestAdapter, sim: httpx.AsyncClient, limit: str
) -> None:
    before = (await stats(sim))["customers"]

    with pytest.raises(GatewayError) as caught:
        await adapter.create_customer(
            customer_request(credit_limit=limit), refs("CRM-ACC-1001"), context()
        )

    assert_business(caught.value, Code.ERP_REJECTED, "/credit_limit")
    assert "USD" in caught.value.detail
    assert (await stats(sim))["customers"] == before


@pytest.mark.parametrize(("limit", "kept"), [("50000.125", None), ("50000.5", "50000.500")])
async def test_netsuite_keeps_the_dinar_to_two_decimals_so_a_limit_in_fils_is_refused(
    sim_url: str, sim: httpx.AsyncClient, limit: str, kept: str | None
) -> None:
    erp = make_adapter(
        sim_url,
        legal_entities={"KW01": {"subsidiary": "9", "currency": "7"}},  # type: ignore[dict-item]
        currencies={"KWD": "7"},
    )
    address = {"line1": "Block 3", "city": "Kuwait City", "postal_code": "13001", "country": "KW"}
    request = customer_request(
        "US01",
        currency="KWD",
        tax_id=None,
        credit_limit=limit,
        addresses=[{**address, "type": AddressType.BILLING}],
    ).model_copy(update={"legal_entity": "KW01"})
    before = (await stats(sim))["customers"]
    try:
        if kept is None:
            with pytest.raises(GatewayError) as caught:
                await erp.create_customer(request, refs("CRM-ACC-1001"), context())
            assert_business(caught.value, Code.ERP_REJECTED, "/credit_limit")
            assert (await stats(sim))["customers"] == before
        else:
            created = await erp.create_customer(request, refs("CRM-ACC-1001"), context())
            assert created.credit_limit is not None
            assert format(created.credit_limit, "f") == kept
    finally:
        await erp.aclose()


async def _dinar_customer(erp: NetSuiteRestAdapter) -> CustomerContext:
    address = {"line1": "Block 3", "city": "Kuwait City", "postal_code": "13001", "country": "KW"}
    request = customer_request(
        "US01",
        currency="KWD",
        tax_id=None,
        credit_limit="50000",
        addresses=[{**address, "type": AddressType.BILLING}],
    ).model_copy(update={"legal_entity": "KW01"})
    created = await erp.create_customer(request, refs("CRM-ACC-1001"), context())
    return CustomerContext(created.erp_id, "KW01")


def _dinar_adapter(sim_url: str) -> NetSuiteRestAdapter:
    return make_adapter(
        sim_url,
        legal_entities={"KW01": {"subsidiary": "9", "currency": "7"}},  # type: ignore[dict-item]
        currencies={"KWD": "7"},
    )


async def test_an_order_whose_line_amount_netsuite_would_round_to_two_decimals_is_refused(
    sim_url: str, sim: httpx.AsyncClient
) -> None:
    erp = _dinar_adapter(sim_url)
    try:
        customer = await _dinar_customer(erp)
        # 3 x 6.125 = 18.375 dinars: NetSuite would keep 18.38. 2 x 45.750 = 91.50 is held.
        lines = [
            order_item("GADGET-2", 2, Decimal("45.750")),
            order_item("WIDGET-1", 3, Decimal("6.125")),
        ]
        before = await stats(sim)
        with pytest.raises(GatewayError) as raised:
            await erp.create_sales_order("KW01", customer, "KWD", None, lines, refs(), context())
        assert_business(raised.value, Code.ERP_REJECTED, "/items/1/price/amount")
        assert [e.pointer for e in raised.value.errors] == ["/items/1/price/amount"]
        assert "The ERP keeps KWD" in raised.value.detail
        assert "18.375" in raised.value.errors[0].detail
        with pytest.raises(GatewayError) as raised:
            await erp.validate_quote("KW01", customer, "KWD", None, lines, context())
        assert_business(raised.value, Code.ERP_REJECTED, "/items/1/price/amount")
        after = await stats(sim)
        assert (after["sales_orders"], after["requests"]) == (
            before["sales_orders"],
            before["requests"],
        )

        # In whole hundredths of a dinar, the same prices pass, and are held as they were sent.
        held = [order_item("WIDGET-1", 2, Decimal("6.125"))]
        quote = await erp.validate_quote("KW01", customer, "KWD", None, held, context())
        order = await erp.create_sales_order("KW01", customer, "KWD", None, held, refs(), context())
        assert [ln.amount for ln in quote.lines] == [Decimal("12.250")]
        assert [(ln.unit_price, ln.amount) for ln in order.lines] == [
            (Decimal("6.125"), Decimal("12.250"))
        ]
    finally:
        await erp.aclose()


# --- a currency the value maps lack, read from NetSuite's currency record ---------------------


async def _dinar_order(sim_url: str) -> tuple[CustomerContext, str]:
    """A customer and an order in KWD, made through maps that know the dinar (id 7)."""
    erp = _dinar_adapter(sim_url)
    try:
        customer = await _dinar_customer(erp)
        held = [order_item("WIDGET-1", 2, Decimal("6.125"))]
        order = await erp.create_sales_order("KW01", customer, "KWD", None, held, refs(), context())
        return customer, order.erp_id
    finally:
        await erp.aclose()


async def currency_reads(sim: httpx.AsyncClient, currency_id: str) -> int:
    log = (await sim.get("/_sim/requests", params={"limit": 500})).json()["requests"]
    path = f"{RECORDS}/currency/{currency_id}"
    return sum(1 for r in log if (r["method"], r["path"]) == ("GET", path))


async def test_a_currency_the_value_maps_lack_reads_back_as_its_iso_code_read_once_from_the_erp(
    sim_url: str, sim: httpx.AsyncClient
) -> None:
    customer, order_id = await _dinar_order(sim_url)
    counted: list[str] = []
    # backends/cloud.yaml as it is: no KWD among its currencies.
    erp = build_netsuite_adapter(
        "cloud", backend_config(sim_url), SIMULATOR_CREDENTIALS, count_unmapped=counted.append
    )
    before = await currency_reads(sim, "7")
    try:
        first = await erp.get_sales_order(order_id, context())
        second = await erp.get_sales_order(order_id, context())
        buyer = await erp.get_customer(customer.erp_id, context())
    finally:
        await erp.aclose()

    assert first is not None and second is not None and buyer is not None
    assert (first.currency, second.currency, buyer.currency) == ("KWD", "KWD", "KWD")
    assert [ln.amount for ln in first.lines] == [Decimal("12.250")]  # in fils, as KWD has them
    assert await currency_reads(sim, "7") - before == 1
    assert counted.count("currency") == 3  # still counted (and logged) as unmapped


async def test_concurrent_first_reads_of_an_unmapped_currency_read_its_record_once(
    sim_url: str, sim: httpx.AsyncClient
) -> None:
    _, order_id = await _dinar_order(sim_url)
    erp = make_adapter(sim_url)  # a fresh adapter: it knows no currency yet
    before = await currency_reads(sim, "7")
    # Each read late, so that every request finds the currency unread while the first reads it.
    await sim.post(
        "/_sim/faults", json={"mode": "latency", "latency_ms": 200, "operations": ["items.read"]}
    )
    try:
        orders = await asyncio.gather(*(erp.get_sales_order(order_id, context()) for _ in range(8)))
    finally:
        await sim.delete("/_sim/faults")
        await erp.aclose()
    assert [o.currency if o else None for o in orders] == ["KWD"] * 8
    # The first read of the record serves the requests that needed it meanwhile.
    assert await currency_reads(sim, "7") - before == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "error", "status": 404},  # NetSuite cannot find the currency record
        {"mode": "malformed", "body": {"id": "7", "symbol": "KD"}},  # a symbol, not ISO 4217
        {"mode": "malformed", "body": {"id": "7", "symbol": "XYZ"}},  # three letters, not ISO
        {"mode": "malformed", "body": {"id": "7", "name": "Kuwaiti Dinar"}},  # no symbol
    ],
    ids=["not-found", "symbol", "unknown-code", "no-symbol"],
)
async def test_an_unmapped_currency_whose_record_cannot_be_read_is_erp_bad_response_not_a_name(
    sim_url: str, sim: httpx.AsyncClient, fault: dict[str, Any]
) -> None:
    _, order_id = await _dinar_order(sim_url)
    erp = make_adapter(sim_url)
    try:
        await sim.post("/_sim/faults", json={**fault, "operations": ["items.read"]})
        with pytest.raises(ErpFailure) as raised:
            await erp.get_sales_order(order_id, context())
        assert (raised.value.code, raised.value.status) == (Code.ERP_BAD_RESPONSE, 502)
        assert "Kuwaiti" not in raised.value.detail

        # Nothing wrong is remembered: once NetSuite answers, the order reads in its ISO code.
        await sim.delete("/_sim/faults")
        order = await erp.get_sales_order(order_id, context())
        assert order is not None and order.currency == "KWD"
    finally:
        await erp.aclose()

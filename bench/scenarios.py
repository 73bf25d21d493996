"""What the benchmark sends: the gateway's canonical requests (v1 and v2), and for the proxies
in front of the cloud ERP simulator the NetSuite records the gateway's own mapping makes of the
same bodies, so that every server moves the same documents.

Not how they are sent or measured (see `bench.wrk`, `bench.run`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bench.wrk import UNIQUE, Load
from gateway.adapters.base import References
from gateway.adapters.netsuite.client import EXPANDED
from gateway.adapters.netsuite.outbound import customer_record, sales_order_record
from gateway.adapters.netsuite.records import CUSTOMER, SALES_ORDER, record_path
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.domain.models import CustomerCreate, SalesOrderCreate

GET_V1 = "GET sales order v1"
GET_V2 = "GET sales order v2"
GET = "GET sales order"  # through a proxy: the record, in the ERP's own shape
POST_ORDER = "POST sales order"
POST_CUSTOMER = "POST customer"
PROXY_SCENARIOS = (GET, POST_ORDER, POST_CUSTOMER)
GATEWAY_SCENARIOS = (GET_V1, GET_V2, POST_ORDER, POST_CUSTOMER)
# The proxy scenario each gateway scenario is compared with.
REFERENCE = {GET_V1: GET, GET_V2: GET, POST_ORDER: POST_ORDER, POST_CUSTOMER: POST_CUSTOMER}
WRITE_VERSION = "v2"  # creates go to the newest version; reads are measured on both
LEGAL_ENTITY = "US01"  # on the cloud ERP (routes.yaml)
ADDRESS = {"line1": "1 Main St", "city": "Austin", "postal_code": "78701", "country": "US"}
ACCEPT = {"Accept": "application/json"}
JSON = {**ACCEPT, "Content-Type": "application/json"}


@dataclass(frozen=True)
class Scenario:
    name: str
    load: Load


def customer_body(version: str, external_ref: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": external_ref,
        "legal_entity": LEGAL_ENTITY,
        "currency": "USD",
        "payment_terms": "NET30",
        "credit_limit": "100000000.00",
    }
    if version == "v1":
        return {**body, "name": "Bench Corp", "address": ADDRESS}
    return {**body, "legal_name": "Bench Corp", "addresses": [{**ADDRESS, "type": "billing"}]}


def order_body(version: str, customer_id: str, external_ref: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": external_ref,
        "legal_entity": LEGAL_ENTITY,
        "customer_id": customer_id,
        "currency": "USD",
        "requested_delivery_date": "2026-12-15",
    }
    if version == "v1":
        return {**body, "lines": [{"sku": "WIDGET-1", "quantity": 1, "unit_price": "19.99"}]}
    price = {"amount": "19.99", "currency": "USD"}
    return {**body, "items": [{"product_id": "WIDGET-1", "quantity": 1, "price": price}]}


def gateway_scenarios(token: str, order_id: str, customer_id: str) -> list[Scenario]:
    """Reads of `order_id` on v1 and v2; creates of an order for `customer_id` and of a
    customer, each with a fresh Idempotency-Key and external reference."""
    reads = {**ACCEPT, "Authorization": f"Bearer {token}"}
    writes = {**JSON, "Authorization": f"Bearer {token}"}
    order = json.dumps(order_body(WRITE_VERSION, customer_id, UNIQUE))
    customer = json.dumps(customer_body(WRITE_VERSION, UNIQUE))
    return [
        Scenario(GET_V1, Load("GET", f"/v1/sales-orders/{order_id}", reads)),
        Scenario(GET_V2, Load("GET", f"/v2/sales-orders/{order_id}", reads)),
        Scenario(POST_ORDER, Load("POST", f"/{WRITE_VERSION}/sales-orders", writes, order)),
        Scenario(POST_CUSTOMER, Load("POST", f"/{WRITE_VERSION}/customers", writes, customer)),
    ]


def netsuite_customer(maps: NetSuiteMaps) -> dict[str, Any]:
    """The `customer` record the gateway sends for a create (its external id: UNIQUE)."""
    request = CustomerCreate.model_validate_json(json.dumps(customer_body(WRITE_VERSION, UNIQUE)))
    return customer_record(request, References(UNIQUE, UNIQUE), maps)


def netsuite_order(maps: NetSuiteMaps, customer_internal_id: str) -> dict[str, Any]:
    """The `salesOrder` record the gateway sends for a create (its external id: UNIQUE)."""
    # Validated as the gateway validates it; its customer is then named by internal id.
    request = SalesOrderCreate.model_validate_json(
        json.dumps(order_body(WRITE_VERSION, "cus_bench", UNIQUE))
    )
    return sales_order_record(
        LEGAL_ENTITY,
        customer_internal_id,
        request.currency,
        request.requested_delivery_date,
        list(request.items),
        References(UNIQUE, UNIQUE),
        maps,
    )


def proxy_scenarios(
    token: str, maps: NetSuiteMaps, order_internal_id: str, customer_internal_id: str
) -> list[Scenario]:
    """The same reads and creates, as the gateway sends them to the cloud ERP (one call each;
    the gateway's create reads the record back as well), with the simulator's bearer token."""
    reads = {**ACCEPT, "Authorization": f"Bearer {token}"}
    writes = {**JSON, "Authorization": f"Bearer {token}"}
    read = f"{record_path(SALES_ORDER, order_internal_id)}?{urlencode(EXPANDED)}"
    order = json.dumps(netsuite_order(maps, customer_internal_id))
    customer = json.dumps(netsuite_customer(maps))
    return [
        Scenario(GET, Load("GET", read, reads)),
        Scenario(POST_ORDER, Load("POST", record_path(SALES_ORDER), writes, order)),
        Scenario(POST_CUSTOMER, Load("POST", record_path(CUSTOMER), writes, customer)),
    ]

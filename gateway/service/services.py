"""The service layer of one runtime: its ERP calls and the services built on them.

Not a registry of anything else; built once per configuration load, like the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config.rate_limits import BackendBudget
from gateway.observability.spans import Telemetry
from gateway.routing.rules import RoutingTable
from gateway.service.customers import Customers
from gateway.service.documents import Documents
from gateway.service.erp_calls import Backend, ErpCalls
from gateway.service.order_events import EventLog
from gateway.service.sales_orders import SalesOrders
from gateway.store.base import Store


@dataclass(frozen=True)
class Services:
    customers: Customers
    sales_orders: SalesOrders
    documents: Documents
    events: EventLog


def build_services(
    backends: Mapping[str, Backend],
    store: Store,
    routing: RoutingTable,
    telemetry: Telemetry | None,
    budgets: Mapping[str, BackendBudget] | None = None,
) -> Services:
    erp = ErpCalls(backends, store, telemetry, budgets)
    return Services(
        Customers(erp, store, routing),
        SalesOrders(erp, store, routing.replicate_customers),
        Documents(erp, store),
        EventLog(store),
    )

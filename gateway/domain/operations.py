"""The closed list of domain operations, by the names policies and routes use.

Not the HTTP routes (see `gateway.api.routes`); these are what entitlements and rules refer to.
"""

from enum import StrEnum


class Operation(StrEnum):
    CUSTOMERS_CREATE = "customers.create"
    CUSTOMERS_READ = "customers.read"
    SALES_ORDERS_CREATE = "sales_orders.create"
    SALES_ORDERS_READ = "sales_orders.read"
    SALES_ORDERS_CANCEL = "sales_orders.cancel"
    INVOICES_READ = "invoices.read"
    SHIPMENTS_READ = "shipments.read"
    QUOTES_VALIDATE = "quotes.validate"


ALL_OPERATIONS: tuple[str, ...] = tuple(op.value for op in Operation)


class Kind(StrEnum):
    """Kinds of record held in the ID cross-reference, with their gateway id prefixes."""

    CUSTOMER = "customer"
    SALES_ORDER = "sales_order"
    SHIPMENT = "shipment"
    INVOICE = "invoice"

    @property
    def prefix(self) -> str:
        return _PREFIXES[self]


_PREFIXES = {
    Kind.CUSTOMER: "cus_",
    Kind.SALES_ORDER: "so_",
    Kind.SHIPMENT: "shp_",
    Kind.INVOICE: "inv_",
}


def kind_of_id(gateway_id: str) -> Kind | None:
    """The kind a gateway id belongs to, judged by its prefix; None for a foreign id."""
    for kind, prefix in _PREFIXES.items():
        if gateway_id.startswith(prefix):
            return kind
    return None

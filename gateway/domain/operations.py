"""The closed list of domain operations, by the names policies and routes use.

Not the HTTP endpoints (see `gateway.api.endpoints`); these are what policies and rules name.
"""

from collections.abc import Iterable
from enum import StrEnum
from fnmatch import fnmatchcase


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


def operations_matching(globs: Iterable[str] | None) -> frozenset[str]:
    """The known operations any of `globs` matches (all of them for `None`)."""
    if globs is None:
        return frozenset(ALL_OPERATIONS)
    patterns = tuple(globs)
    return frozenset(op for op in ALL_OPERATIONS if any(fnmatchcase(op, g) for g in patterns))


# What changes records in an ERP: what a freeze stops by default.
WRITE_OPERATIONS: frozenset[str] = frozenset(
    {Operation.CUSTOMERS_CREATE, Operation.SALES_ORDERS_CREATE, Operation.SALES_ORDERS_CANCEL}
)
# What a freeze may stop when its globs name it: the writes, and a quote (it changes nothing,
# but its prices may be about to). Reads never are, whatever a glob matches.
FREEZABLE: frozenset[str] = WRITE_OPERATIONS | {Operation.QUOTES_VALIDATE}

# What a rule's `shadow:` may name. Reads (a quote creates nothing) are sent to the shadow
# backend as they are; the one write, through a side-effect-free path only: the legacy ERP's
# sales-order simulation, or a sandbox account. Shipments and invoices live in one ERP only.
SHADOW_READS: frozenset[str] = frozenset(
    {Operation.CUSTOMERS_READ, Operation.SALES_ORDERS_READ, Operation.QUOTES_VALIDATE}
)
SHADOW_WRITES: frozenset[str] = frozenset({Operation.SALES_ORDERS_CREATE})
SHADOWABLE: frozenset[str] = SHADOW_READS | SHADOW_WRITES

# The scope each operation needs (clients.yaml grants them, tokens may narrow them).
REQUIRED_SCOPE: dict[str, str] = {
    Operation.CUSTOMERS_CREATE: "customers:write",
    Operation.CUSTOMERS_READ: "customers:read",
    Operation.SALES_ORDERS_CREATE: "sales_orders:write",
    Operation.SALES_ORDERS_READ: "sales_orders:read",
    Operation.SALES_ORDERS_CANCEL: "sales_orders:write",
    Operation.INVOICES_READ: "invoices:read",
    Operation.SHIPMENTS_READ: "shipments:read",
    Operation.QUOTES_VALIDATE: "quotes:write",
}
ADMIN_SCOPE = "gateway:admin"  # the operator endpoints under /admin
DEBUG_SCOPE = "gateway:debug"  # see the routing decision on each response (X-Route-Rule...)
KNOWN_SCOPES = frozenset({*REQUIRED_SCOPE.values(), ADMIN_SCOPE, DEBUG_SCOPE})


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

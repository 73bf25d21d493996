"""OData v2 as SAP Gateway speaks it: envelopes, keys, query options, dates, errors, entity sets.

Not business rules: the services (`partners`, `sales`, `fulfillment`) decide what the data means.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.responses import Response

from erp_simulators.sap import catalog
from erp_simulators.sap.edm import EntityType, Service

JSON_TYPE = "application/json; charset=utf-8"
PROTOCOL_HEADERS = {"dataserviceversion": "2.0"}

_RESOURCE_RE = re.compile(
    r"^(?P<set>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<key>[^)]*)\))?(?:/(?P<nav>[A-Za-z_][A-Za-z0-9_]*))?$"
)
_KEY_PART_RE = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?'(?P<value>(?:[^']|'')*)'\s*"
)
_FILTER_TERM_RE = re.compile(
    r"\s*\(?\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<op>eq|ne)\s+"
    r"(?P<value>'(?:[^']|'')*'|true|false|null|-?\d+(?:\.\d+)?[mMdD]?)\s*\)?\s*",
    re.IGNORECASE,
)
_FILTER_AND_RE = re.compile(r"and\s+", re.IGNORECASE)
_DATE_RE = re.compile(r"^/Date\((?P<ms>-?\d+)(?:[+-]\d{4})?\)/$")
_ISO_DATE_RE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})(?:T[0-9:.]+Z?)?$")
_NAV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorDetail:
    code: str
    message: str
    target: str = ""
    severity: str = "error"


@dataclass
class SapError(Exception):
    """A refusal in SAP's error envelope. The first detail is also the top-level message."""

    status: int
    details: list[ErrorDetail]

    @classmethod
    def one(cls, status: int, code: str, message: str, target: str = "") -> SapError:
        return cls(status, [ErrorDetail(code, message, target)])

    def body(self) -> dict[str, Any]:
        first = self.details[0]
        return {
            "error": {
                "code": first.code,
                "message": {"lang": "en", "value": first.message},
                "innererror": {
                    "application": {"component_id": "SD-SLS-API", "service_namespace": "/SAP/"},
                    "transactionid": uuid.uuid4().hex.upper(),
                    "timestamp": datetime.now(UTC).strftime("%Y%m%d%H%M%S.%f"),
                    "errordetails": [
                        {
                            "code": d.code,
                            "message": d.message,
                            "propertyref": "",
                            "severity": d.severity,
                            "target": d.target,
                            "transition": False,
                        }
                        for d in self.details
                    ]
                    # SAP Gateway lists the exception that carried the messages after them.
                    + ([_BUSINESS_EXCEPTION] if self.status < 500 else []),
                },
            }
        }

    def response(self) -> Response:
        return json_response(self.body(), self.status)


_BUSINESS_EXCEPTION = {
    "code": "/IWBEP/CX_MGW_BUSI_EXCEPTION",
    "message": "An exception was raised.",
    "propertyref": "",
    "severity": "error",
    "target": "",
    "transition": False,
}


def message_header(details: list[ErrorDetail]) -> str:
    """The `sap-message` header SAP Gateway adds to a successful answer that has messages: the
    first message, with the others as its details."""
    first, *rest = details

    def one(d: ErrorDetail) -> dict[str, Any]:
        return {"code": d.code, "message": d.message, "severity": d.severity, "target": d.target}

    return json.dumps({**one(first), "details": [one(d) for d in rest]}, separators=(",", ":"))


def bad_request(code: str, message: str, target: str = "") -> SapError:
    return SapError.one(400, code, message, target)


def not_found(resource: str) -> SapError:
    return SapError.one(
        404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{resource}'", resource
    )


def no_service(name: str) -> SapError:
    """What SAP Gateway's hub answers for a service not there for the caller (not activated in
    /IWFND/MAINT_SERVICE, no system alias): its own message, about the service."""
    return SapError.one(
        404,
        "/IWFND/MED/170",
        f"No service found for namespace '/SAP/', name '{name}', version '0001'",
    )


_FAULT_TEXT = {
    404: "Resource not found",
    500: "In the context of Data Services an unknown internal server error occurred",
    502: "Bad Gateway",
    503: "Service unavailable: backend system is not reachable",
    504: "Gateway Timeout: the backend did not answer in time",
}


def fault_response(status: int) -> Response:
    """The answer of an injected `error` fault, in the SAP envelope."""
    text = _FAULT_TEXT.get(status, "Error in the backend system")
    if status == 404:  # the service's own not-found, as for a key it does not have
        return SapError.one(status, "/IWBEP/CM_MGW_RT/020", text).response()
    return SapError.one(status, "/IWFND/CM_BEC/026", text).response()


# --- responses ----------------------------------------------------------------------------


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return Response(raw, status, {**PROTOCOL_HEADERS, **(headers or {})}, media_type=JSON_TYPE)


def entity_envelope(entity: dict[str, Any]) -> dict[str, Any]:
    return {"d": entity}


def collection_envelope(
    entities: list[dict[str, Any]], count: int | None, next_link: str | None = None
) -> dict[str, Any]:
    d: dict[str, Any] = {"results": entities}
    if count is not None:
        d["__count"] = str(count)
    if next_link is not None:
        d["__next"] = next_link
    return {"d": d}


# --- values ---------------------------------------------------------------------------------


def edm_datetime(ms: int | None) -> str | None:
    return None if ms is None else f"/Date({ms})/"


def edm_datetimeoffset(us: int) -> str:
    return f"/Date({us // 1000}+0000)/"


def edm_decimal(value: Decimal | None, places: int = 2) -> str | None:
    if value is None:
        return None
    return str(value.quantize(Decimal(1).scaleb(-places)))


def edm_amount(value: Decimal | None, currency: str) -> str | None:
    """An amount (or a price) in its currency's decimals, as SAP's APIs show one: 3000 yen,
    18.375 dinars, 19.99 dollars."""
    return edm_decimal(value, catalog.currency_decimals(currency))


def etag_of(changed_us: int) -> str:
    """SAP's weak ETag from a change timestamp (its colons URL-encoded, as SAP does)."""
    stamp = datetime.fromtimestamp(changed_us / 1_000_000, UTC)
    text = stamp.strftime("%Y-%m-%dT%H%%3A%M%%3A%S.") + f"{stamp.microsecond:06d}0Z"
    return f"W/\"datetimeoffset'{text}'\""


def date_ms(value: Any, target: str) -> int | None:
    """An Edm.DateTime from `/Date(ms)/` or an ISO date; None for null."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if match := _DATE_RE.match(value):
            return int(match["ms"])
        if match := _ISO_DATE_RE.match(value):
            day = datetime.strptime(match["date"], "%Y-%m-%d").replace(tzinfo=UTC)
            return int(day.timestamp()) * 1000
    raise bad_request(
        "/IWBEP/CM_MGW_RT/003", f"Invalid value '{value}' for property of type Edm.DateTime", target
    )


def decimal_value(value: Any, target: str) -> Decimal:
    """An Edm.Decimal; OData v2 JSON carries decimals as strings only."""
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return number
    raise bad_request(
        "/IWBEP/CM_MGW_RT/003", f"Invalid value '{value}' for property of type Edm.Decimal", target
    )


def text_value(payload: Mapping[str, Any], name: str, max_length: int, target: str = "") -> str:
    """An Edm.String property (absent means empty), refused beyond its length, as SAP does;
    kept without trailing blanks, as SAP's fixed-length character fields keep a value."""
    value = payload.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(
            "/IWBEP/CM_MGW_RT/003",
            f"Invalid value for property '{name}' of type Edm.String",
            target or name,
        )
    if len(value) > max_length:
        raise bad_request(
            "/IWBEP/CM_MGW_RT/004",
            f"Value '{value}' of property '{name}' exceeds the maximum length of {max_length}",
            target or name,
        )
    return value.rstrip(" ")


def inline_rows(payload: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """A deep-insert navigation: `[...]`, `{"results": [...]}` or a single object."""
    value = payload.get(name)
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("results", [value])
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise bad_request("/IWBEP/CM_MGW_RT/003", f"Invalid inline content for '{name}'", name)
    return value


# --- entities -------------------------------------------------------------------------------

Loader = Callable[[], "Node | list[Node] | None"]

# Document and partner numbers SAP keeps with leading zeros (conversion exit ALPHA): input is
# always padded to ten digits; output is padded too unless the system shows them unpadded.
ALPHA_FIELDS = frozenset(
    {
        "BusinessPartner",
        "Customer",
        "SoldToParty",
        "ShipToParty",
        "PayerParty",
        "SalesOrder",
        "SalesDocument",
        "DeliveryDocument",
        "ReferenceSDDocument",
        "BillingDocument",
    }
)
_ALPHA_LENGTH = 10
_PADDED_KEY_RE = re.compile(r"'0+(\d)")


def alpha_in(value: str) -> str:
    """A number as SAP stores it: numeric values padded with zeros to ten digits."""
    return value.zfill(_ALPHA_LENGTH) if value.isdigit() else value


def alpha_out(value: str) -> str:
    """A number as SAP shows it with the conversion exit on: without leading zeros."""
    return (value.lstrip("0") or "0") if value.isdigit() else value


@dataclass
class Node:
    """One entity ready to be written: its path under the service root, type and properties."""

    path: str
    type_name: str
    properties: dict[str, Any]
    navigation: dict[str, Loader] = field(default_factory=dict)
    etag: str | None = None
    warnings: list[ErrorDetail] = field(default_factory=list)  # for the sap-message header


Expand = dict[str, "Expand"]
Select = dict[str, "Select"]  # a property is a leaf ({}); a navigation holds its own selection


@dataclass(frozen=True)
class Rendering:
    """How entities of one service are written: the properties its metadata declares (in the
    release and with the custom fields the simulator runs with), under its root URL."""

    service: Service
    root: str
    unpadded: bool = False

    def path(self, node: Node) -> str:
        return _PADDED_KEY_RE.sub(r"'\1", node.path) if self.unpadded else node.path

    def entity(
        self, node: Node, expand: Expand, select: Select | None = None, *, strict: bool = True
    ) -> dict[str, Any]:
        """The entity's JSON, with `expand`ed navigation inline and the rest deferred; only
        the `select`ed properties when a selection is given.

        `strict` refuses what the entity type does not have (a client's `$expand`/`$select`).
        """
        entity_type = self.service.entity_type(node.type_name)
        if select and strict:
            _check_selection(entity_type, select)
        uri = self.root + self.path(node)
        metadata: dict[str, str] = {"id": uri, "uri": uri, "type": node.type_name}
        if node.etag is not None and entity_type.etag_property is not None:
            metadata["etag"] = node.etag
        out: dict[str, Any] = {"__metadata": metadata}
        for name, value in node.properties.items():
            if entity_type.property_named(name) is None or (select and name not in select):
                continue
            if self.unpadded and name in ALPHA_FIELDS and isinstance(value, str):
                value = alpha_out(value)
            out[name] = value
        unknown = set(expand) - set(node.navigation)
        if unknown and strict:
            name = sorted(unknown)[0]
            raise bad_request(
                "/IWBEP/CM_MGW_RT/005", f"Property '{name}' is not a navigation property", name
            )
        for name, load in node.navigation.items():
            if select and name not in select:
                continue
            sub = expand.get(name)
            if sub is None:
                out[name] = {"__deferred": {"uri": f"{uri}/{name}"}}
                continue
            inner = (select or {}).get(name) or None
            value = load()
            if isinstance(value, list):
                out[name] = {"results": [self.entity(v, sub, inner, strict=strict) for v in value]}
            else:
                out[name] = None if value is None else self.entity(value, sub, inner, strict=strict)
        return out


def _check_selection(entity_type: EntityType, select: Select) -> None:
    for name in select:
        if entity_type.property_named(name) is None and entity_type.navigation_named(name) is None:
            raise bad_request(
                "/IWBEP/CM_MGW_RT/011",
                f"Property '{name}' not found in type '{entity_type.name}'",
                name,
            )


def key_text(**keys: str) -> str:
    """`('1')` for one key, `(A='1',B='2')` for several."""
    if len(keys) == 1:
        return "('" + next(iter(keys.values())).replace("'", "''") + "')"
    return "(" + ",".join(f"{k}='{v}'" for k, v in keys.items()) + ")"


@dataclass(frozen=True)
class EntitySet:
    """How one entity set answers: the services bind these callables to their ledger."""

    keys: tuple[str, ...]
    read_operation: str
    rows: Callable[[], Iterable[Any]]
    lookup: Callable[[Mapping[str, str]], Any | None]
    node: Callable[[Any], Node]
    indexed: Mapping[str, Callable[[str], Iterable[Any]]] = field(default_factory=dict)
    create: Callable[[dict[str, Any]], Node] | None = None
    create_operation: str = ""
    update: Callable[[Any, dict[str, Any]], Node] | None = None
    update_operation: str = ""


# --- addressing and query options -----------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    entity_set: str
    key: dict[str, str] | None
    navigation: str | None


def parse_resource(path: str) -> Resource:
    match = _RESOURCE_RE.match(path)
    if match is None:
        raise not_found(path)
    key = None
    if match["key"] is not None:
        key = {}
        for part in match["key"].split(","):
            key_match = _KEY_PART_RE.fullmatch(part)
            if key_match is None:
                raise bad_request("/IWBEP/CM_MGW_RT/021", f"Invalid key predicate '{part}'", path)
            key[key_match["name"] or ""] = key_match["value"].replace("''", "'")
    return Resource(match["set"], key, match["nav"])


def named_key(key: dict[str, str], names: tuple[str, ...], path: str) -> dict[str, str]:
    """The key predicate with its property names (`('1')` names the one key property), its
    numbers padded as SAP stores them."""
    if set(key) == {""} and len(names) == 1:
        key = {names[0]: key[""]}
    if set(key) != set(names):
        raise bad_request("/IWBEP/CM_MGW_RT/021", "Key predicate does not match the keys", path)
    return {name: alpha_in(value) if name in ALPHA_FIELDS else value for name, value in key.items()}


Condition = tuple[str, str, Any]  # (property, "eq"|"ne", value)


def parse_filter(text: str) -> list[Condition]:
    """`$filter` terms joined by `and`: `Field eq 'x' and Other ne 'y'`."""
    conditions: list[Condition] = []
    position = 0
    while True:
        match = _FILTER_TERM_RE.match(text, position)
        if match is None:
            raise bad_request("/IWBEP/CM_MGW_RT/011", f"Invalid filter expression: '{text}'")
        name, value = match["field"], _literal(match["value"])
        if name in ALPHA_FIELDS and isinstance(value, str):
            value = alpha_in(value)
        conditions.append((name, match["op"].lower(), value))
        position = match.end()
        if position >= len(text):
            return conditions
        joiner = _FILTER_AND_RE.match(text, position)
        if joiner is None:
            raise bad_request("/IWBEP/CM_MGW_RT/011", f"Invalid filter expression: '{text}'")
        position = joiner.end()


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return Decimal(text.rstrip("mMdD"))


def matches(properties: Mapping[str, Any], conditions: list[Condition]) -> bool:
    for name, op, expected in conditions:
        if name not in properties:
            raise bad_request(
                "/IWBEP/CM_MGW_RT/011", f"Property '{name}' not found in the entity type", name
            )
        actual = properties[name]
        if isinstance(expected, Decimal) and isinstance(actual, str):
            try:
                actual = Decimal(actual)
            except InvalidOperation:
                return False
        if (actual == expected) != (op == "eq"):
            return False
    return True


def parse_expand(text: str) -> Expand:
    tree: Expand = {}
    for path in text.split(","):
        path = path.strip()
        if not path:
            continue
        branch = tree
        for name in path.split("/"):
            if not _NAV_NAME_RE.match(name):
                raise bad_request("/IWBEP/CM_MGW_RT/005", f"Invalid $expand '{path}'")
            branch = branch.setdefault(name, {})
    return tree


def parse_select(text: str) -> Select:
    """`$select` paths as a tree: `SalesOrder,to_Item/Material` selects SalesOrder and, in the
    expanded items, Material."""
    tree: Select = {}
    for path in text.split(","):
        path = path.strip()
        if not path or path == "*":
            continue
        branch = tree
        for name in path.split("/"):
            if not _NAV_NAME_RE.match(name):
                raise bad_request("/IWBEP/CM_MGW_RT/011", f"Invalid $select '{path}'")
            branch = branch.setdefault(name, {})
    return tree


def parse_count(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise bad_request("/IWBEP/CM_MGW_RT/011", f"Invalid value '{value}' for {option}")
    return int(value)

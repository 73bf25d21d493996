"""The OData v2 JSON format as SAP speaks it: `{"d": ...}` envelopes, `results` lists, string
literals, `/Date(ms)/` dates, and typed readers of an entity's fields.

Not any one entity's mapping (see `outbound.py`, `inbound.py`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

_DATE_RE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
# SAP's amounts and quantities are Edm.Decimal of at most 16 digits: a bigger number (say
# "1E+999999999") is no amount, and turning it into an int would take the process's memory.
_MAX_INTEGER_DIGITS = 18
_NUMBER_LENGTH = 10  # SAP's document and partner numbers (conversion exit ALPHA)
_DOT_SEGMENTS = frozenset({".", ".."})
_ANY_ORIGIN = "http://sap.invalid"  # what a relative link is resolved against (ignored after)
SAP_CLIENT = "sap-client"  # the query parameter naming the logon client


class SapAnswerError(ValueError):
    """An SAP answer without the shape the mapping needs (the caller reports erp_bad_response)."""


def results_payload(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": rows}


def odata_date(day: dt.date) -> str:
    """An Edm.DateTime for a calendar date: `/Date(ms since epoch at UTC midnight)/`."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return f"/Date({int(midnight.timestamp()) * 1000})/"


def string_literal(value: str) -> str:
    """An OData string literal: quoted, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def entity_path(entity_set: str, **keys: str) -> str:
    if len(keys) == 1:
        return f"{entity_set}({string_literal(next(iter(keys.values())))})"
    return entity_set + "(" + ",".join(f"{k}={string_literal(v)}" for k, v in keys.items()) + ")"


def equals_filter(field: str, value: str) -> str:
    return f"{field} eq {string_literal(value)}"


def entity_of(body: Any) -> dict[str, Any]:
    """The entity in a `{"d": {...}}` envelope."""
    d = body.get("d") if isinstance(body, dict) else None
    if not isinstance(d, dict) or isinstance(d.get("results"), list):
        raise SapAnswerError("expected a single entity in a 'd' envelope")
    return d


def results_of(body: Any) -> list[dict[str, Any]]:
    """The entities in a `{"d": {"results": [...]}}` envelope."""
    return page_of(body)[0]


def page_of(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a collection: its entities and the link to the next page (`__next`), if
    the server pages the answer."""
    d = body.get("d") if isinstance(body, dict) else None
    rows = d.get("results") if isinstance(d, dict) else d
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise SapAnswerError("expected a collection in a 'd' envelope")
    link = d.get("__next") if isinstance(d, dict) else None
    if link is not None and not (isinstance(link, str) and link):
        raise SapAnswerError("__next is not a link")
    return rows, link


def next_request(
    link: str, request_path: str, root: str, sap_client: str
) -> tuple[str, dict[str, str]]:
    """The path (from the OData root on) and query of a `__next` link, which must lead into the
    service `request_path` reads, in the same `sap-client`. SAP writes it absolute; a relative
    one is resolved against the request it answers. The host it names is ignored: the next page
    is asked of the same backend, never of a host an answer chose (SAP names the host it knows
    itself by, which behind a web dispatcher or proxy is not the one the gateway calls). A link
    into another service or client, or with `.` or `..` segments left once resolved (encoded or
    not: normalized, they would take the gateway's logon anywhere on the host), is a bad
    answer."""
    parts = urlsplit(urljoin(_ANY_ORIGIN + request_path, link))
    if any(segment in _DOT_SEGMENTS for segment in unquote(parts.path).split("/")):
        raise SapAnswerError("__next has . or .. segments")
    service = root + "/" + request_path.removeprefix(root + "/").split("/", 1)[0] + "/"
    at = parts.path.find(service)
    if at < 0:
        raise SapAnswerError("__next leads out of the service it pages")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if any(k.lower() == SAP_CLIENT and v != sap_client for k, v in query.items()):
        raise SapAnswerError("__next names another sap-client")
    return parts.path[at:], query


def sap_number(value: str) -> str:
    """A document or partner number as SAP stores it: numbers padded with zeros to ten digits,
    whether the service shows them padded (0017100001) or not (17100001)."""
    return value.zfill(_NUMBER_LENGTH) if value.isdigit() else value


def rows_of(entity: Mapping[str, Any], navigation: str) -> list[dict[str, Any]]:
    """An expanded to-many navigation; deferred or absent means none were sent."""
    value = entity.get(navigation)
    if isinstance(value, dict):
        value = value.get("results", [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise SapAnswerError(f"{navigation} is not a collection")
    return value


def one_of(entity: Mapping[str, Any], navigation: str) -> dict[str, Any] | None:
    value = entity.get(navigation)
    if not isinstance(value, dict) or "__deferred" in value:
        return None
    return value


def text_of(entity: Mapping[str, Any], name: str) -> str:
    value = entity.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SapAnswerError(f"{name} is not a string")
    return value


def required_text(entity: Mapping[str, Any], name: str) -> str:
    value = text_of(entity, name)
    if not value:
        raise SapAnswerError(f"{name} is missing")
    return value


def decimal_of(entity: Mapping[str, Any], name: str) -> Decimal | None:
    """An Edm.Decimal (a JSON string); None when absent or empty."""
    value = entity.get(name)
    if value is None or value == "":
        return None
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number.adjusted() >= _MAX_INTEGER_DIGITS:
        raise SapAnswerError(f"{name} is not a decimal")
    return number


def amount_of(entity: Mapping[str, Any], name: str) -> Decimal:
    value = decimal_of(entity, name)
    if value is None:
        raise SapAnswerError(f"{name} is missing")
    return value


def quantity_of(entity: Mapping[str, Any], name: str) -> int:
    """An Edm.Decimal quantity (`"3.000"`) as the whole number the canonical models hold. A
    fractional one (an item changed in SAP to 2.5 pieces) is refused, never cut to 2."""
    quantity = amount_of(entity, name)
    if quantity != quantity.to_integral_value():
        raise SapAnswerError(f"{name} is not a whole quantity")
    return int(quantity)


def date_of(value: Any) -> dt.date | None:
    """A calendar date from an Edm.DateTime (`/Date(ms)/`); None for null."""
    if value is None or value == "":
        return None
    match = _DATE_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise SapAnswerError(f"{value!r} is not an Edm.DateTime")
    return dt.datetime.fromtimestamp(int(match[1]) / 1000, dt.UTC).date()

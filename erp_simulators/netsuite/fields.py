"""Reading one field of a NetSuite request body, refusing it with NetSuite's error and path.

Not business rules (see `books`); only the types of values: references, numbers, text, dates.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from erp_simulators.netsuite.errors import RecordError, user_error

JsonObject = dict[str, Any]


def invalid_value(path: str) -> RecordError:
    return user_error(
        f"Invalid value for the resource or sub-resource field '{path}'. Provide a valid value.",
        path,
    )


def missing_value(label: str, path: str) -> RecordError:
    return user_error(f"Please enter value(s) for: {label}", path)


def reject_unknown_fields(body: JsonObject, allowed: frozenset[str], prefix: str = "") -> None:
    for name in body:
        if name not in allowed:
            path = prefix + name
            raise user_error(f"Invalid field name: {path}. Provide a valid field name.", path)


def text(body: JsonObject, name: str, path: str, max_length: int = 300) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise invalid_value(path)
    return value or None


def reference(body: JsonObject, name: str, path: str) -> str | None:
    """The internal id of a reference field written as `{"id": "2"}` (NetSuite's form)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"id", "refName", "links"}:
        raise invalid_value(path)
    ref = value.get("id")
    if isinstance(ref, bool) or not isinstance(ref, str | int) or str(ref) == "":
        raise invalid_value(path)
    return str(ref)


def number(body: JsonObject, name: str, path: str) -> Decimal | None:
    """A JSON number, parsed exactly (bodies are read with `parse_float=Decimal`)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise invalid_value(path)
    return Decimal(value)


def boolean(body: JsonObject, name: str, path: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid_value(path)
    return value


def date(body: JsonObject, name: str, path: str) -> dt.date | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_value(path)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid_value(path) from None


def sublist(body: JsonObject, name: str, path: str) -> list[JsonObject] | None:
    """The lines of a sublist written as `{"items": [...]}`."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("items"), list):
        raise invalid_value(path)
    lines: list[JsonObject] = value["items"]
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            raise invalid_value(f"{path}.items[{index}]")
    return lines

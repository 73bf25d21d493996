"""The `q` parameter of NetSuite's record lists: `externalId IS "x" AND createdFrom ANY_OF [7]`.

Not a search engine: conditions joined by AND/OR (AND binds tighter), evaluated on rendered records.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from erp_simulators.netsuite.errors import INVALID_PARAMETER, RecordError

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<list>\[[^\]]*\])|(?P<word>[^\s"\[\]]+))'
)
_NO_VALUE_OPERATORS = frozenset({"EMPTY", "EMPTY_NOT"})
_TEXT_OPERATORS = frozenset({"IS", "IS_NOT", "START_WITH", "CONTAIN", "END_WITH"})
_LIST_OPERATORS = frozenset({"ANY_OF", "NONE_OF"})
_NUMBER_OPERATORS = frozenset(
    {"EQUAL", "NOT_EQUAL", "GREATER", "GREATER_OR_EQUAL", "LESS", "LESS_OR_EQUAL"}
)
OPERATORS = _NO_VALUE_OPERATORS | _TEXT_OPERATORS | _LIST_OPERATORS | _NUMBER_OPERATORS


def invalid_query(reason: str) -> RecordError:
    return RecordError(
        400,
        INVALID_PARAMETER,
        f"Invalid search query. Detailed unprocessed description follows. {reason}",
        query_param="q",
    )


def _tokens(q: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = q.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise invalid_query(f"Unexpected character at position {position}.")
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _scalar(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return raw


def _field_text(record: dict[str, Any], field: str) -> str | None:
    value = record.get(field)
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def _condition(field: str, operator: str, raw: str | None) -> Predicate:
    if operator in _NO_VALUE_OPERATORS:
        empty = operator == "EMPTY"
        return lambda r: (_field_text(r, field) in (None, "")) == empty
    assert raw is not None
    if operator in _LIST_OPERATORS:
        wanted = {_scalar(v).lower() for v in raw.strip("[]").split(",") if v.strip()}
        anyof = operator == "ANY_OF"
        return lambda r: ((_field_text(r, field) or "").lower() in wanted) == anyof
    if operator in _TEXT_OPERATORS:
        value = _scalar(raw).lower()
        tests: dict[str, Callable[[str], bool]] = {
            "IS": lambda t: t == value,
            "IS_NOT": lambda t: t != value,
            "START_WITH": lambda t: t.startswith(value),
            "CONTAIN": lambda t: value in t,
            "END_WITH": lambda t: t.endswith(value),
        }
        test = tests[operator]
        return lambda r: test((_field_text(r, field) or "").lower())
    number = _number(_scalar(raw))
    if number is None:
        raise invalid_query(f"{operator} needs a number, not {raw}.")
    compare: dict[str, Callable[[Decimal], bool]] = {
        "EQUAL": lambda n: n == number,
        "NOT_EQUAL": lambda n: n != number,
        "GREATER": lambda n: n > number,
        "GREATER_OR_EQUAL": lambda n: n >= number,
        "LESS": lambda n: n < number,
        "LESS_OR_EQUAL": lambda n: n <= number,
    }
    check = compare[operator]

    def numeric(record: dict[str, Any]) -> bool:
        n = _number(_field_text(record, field))
        return n is not None and check(n)

    return numeric


def parse_query(q: str) -> Predicate:
    """A predicate over rendered records; raises a 400 `INVALID_PARAMETER` error when unreadable."""
    tokens = _tokens(q)
    groups: list[list[Predicate]] = [[]]
    i = 0
    while i < len(tokens):
        if i > 0:
            joiner = tokens[i][1].upper()
            if joiner not in ("AND", "OR"):
                raise invalid_query(f"Expected AND or OR, found {tokens[i][1]}.")
            if joiner == "OR":
                groups.append([])
            i += 1
        if i + 1 >= len(tokens):
            raise invalid_query("A condition needs a field and an operator.")
        field, operator = tokens[i][1], tokens[i + 1][1].upper()
        if operator not in OPERATORS:
            raise invalid_query(f"Unknown operator {tokens[i + 1][1]}.")
        i += 2
        raw: str | None = None
        if operator not in _NO_VALUE_OPERATORS:
            if i >= len(tokens):
                raise invalid_query(f"{operator} needs a value.")
            raw = tokens[i][1]
            i += 1
        groups[-1].append(_condition(field, operator, raw))
    if not groups[0]:
        raise invalid_query("Empty query.")
    return lambda record: any(all(c(record) for c in group) for group in groups)

"""Field-by-field comparison of two canonical JSON answers (a primary's and a shadow's): dotted
paths, ignore globs, numeric tolerance, and redaction of the values a report may show.

Not the shadow traffic itself (see `gateway.service.shadow`) nor the report's arithmetic (see
`gateway.routing.shadow_report`); pure functions over parsed JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

ABSENT: Any = object()  # a path one answer has and the other has not
# What differs between two ERPs by construction, never a finding: each ERP numbers its own
# documents, and words its own messages.
BUILT_IN_IGNORES: tuple[str, ...] = ("erp_reference", "warnings.*.erp_message")
MAX_REMEMBERED = 4096
# Where the canonical schema writes a decimal as a string ("19.99"): a customer's credit limit,
# a Money's amount (prices, amounts, net, tax, total), and the same in a create's or a quote's
# decision (`gateway.service.shadow.decision_of`: `items.*.price` is a price's amount). Only
# there is a string compared as a number; elsewhere ("01067", a postal code) it is text.
DECIMAL_PATHS: tuple[str, ...] = ("credit_limit", "*amount", "items.*.price")


@dataclass(frozen=True)
class CompareRules:
    """What a rule's `shadow:` says about comparing: paths to ignore (globs over dotted paths;
    `items.*.price` ignores `items.0.price.amount` too) and how far numbers may drift, where
    (`tolerance_fields`: globs that cover what is under them in the same way)."""

    ignore: tuple[str, ...] = ()
    absolute: float = 0.0
    relative: float = 0.0
    tolerance_fields: tuple[str, ...] = ("*",)
    # Verdicts by path: an answer's paths repeat from sample to sample.
    _ignored: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    _tolerated: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def ignores(self, path: str) -> bool:
        verdict = self._ignored.get(path)
        if verdict is None:
            verdict = _under_any(path, (*BUILT_IN_IGNORES, *self.ignore))
            _remember(self._ignored, path, verdict)
        return verdict

    def tolerates(self, path: str) -> bool:
        """Whether the tolerance applies at `path`: `fields` globs name a field and what is
        under it (`net_amount` covers `net_amount.amount`), as `ignore` globs do."""
        verdict = self._tolerated.get(path)
        if verdict is None:
            verdict = _under_any(path, self.tolerance_fields)
            _remember(self._tolerated, path, verdict)
        return verdict


def _under_any(path: str, globs: tuple[str, ...]) -> bool:
    """Whether `path` or any dotted prefix of it matches one of `globs`."""
    parts = path.split(".")
    prefixes = [".".join(parts[: n + 1]) for n in range(len(parts))]
    return any(fnmatchcase(p, g) for p in prefixes for g in globs)


def _remember(verdicts: dict[str, bool], path: str, verdict: bool) -> None:
    if len(verdicts) >= MAX_REMEMBERED:  # long lists make many paths: start over
        verdicts.clear()
    verdicts[path] = verdict


@dataclass(frozen=True)
class Difference:
    """One field that differs: its dotted path and both values (ABSENT where missing)."""

    path: str
    primary: Any
    shadow: Any


def leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a JSON tree with its dotted path (list items by position; an empty list
    or object is a leaf of its own, so that `[]` and `[x]` differ)."""
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list) and tree:
        for index, value in enumerate(tree):
            yield from leaves(value, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix, tree


@functools.lru_cache(maxsize=MAX_REMEMBERED)
def is_decimal_path(path: str) -> bool:
    """Whether the canonical schema writes a decimal amount as a string at `path`."""
    return any(fnmatchcase(path, g) for g in DECIMAL_PATHS)


def _number(value: Any, path: str) -> Decimal | None:
    """A JSON number, or a decimal string at a decimal path of the canonical schema (the API
    writes amounts as strings), as a Decimal."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and value and value[0] in "+-0123456789." and is_decimal_path(path):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: `true` is not `1`."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _close(a: Any, b: Any, path: str, rules: CompareRules) -> bool:
    if _same(a, b):
        return True
    x, y = _number(a, path), _number(b, path)
    if x is None or y is None:
        return False
    gap = abs(x - y)
    if gap <= Decimal(str(rules.absolute)):
        return True
    scale = max(abs(x), abs(y))
    return gap <= Decimal(str(rules.relative)) * scale


def _equal(a: Any, b: Any, path: str, rules: CompareRules) -> bool:
    if a is ABSENT or b is ABSENT:
        return False
    return _close(a, b, path, rules) if rules.tolerates(path) else _same(a, b)


def differences(
    primary: Any, shadow: Any, rules: CompareRules = CompareRules()
) -> list[Difference]:
    """The fields in which two canonical answers differ, in path order, ignored paths left out
    and numbers (and decimal strings at the schema's decimal paths) within the tolerance
    counted as equal."""
    ours = dict(leaves(primary))
    theirs = dict(leaves(shadow))
    found = []
    for path in sorted(ours.keys() | theirs.keys()):
        if rules.ignores(path):
            continue
        a, b = ours.get(path, ABSENT), theirs.get(path, ABSENT)
        if not _equal(a, b, path, rules):
            found.append(Difference(path, a, b))
    return found


def field_of(path: str) -> str:
    """The field a path names, list positions folded (`items.3.price.amount` ->
    `items.*.price.amount`), so that a report counts one field, not one per line."""
    return ".".join("*" if part.isdigit() else part for part in path.split("."))


def redacted(value: Any) -> str:
    """A value as a report shows it without the client's leave: its type and length only."""
    if value is ABSENT:
        return "absent"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return f"string({len(value)})"
    if isinstance(value, list):
        return f"array({len(value)})"
    return "object"


def shown(value: Any, reveal: bool) -> Any:
    """A value for a report's example pair: itself when the client allows values, else
    its type and length."""
    if not reveal:
        return redacted(value)
    return "absent" if value is ABSENT else value

"""The shadow report: per legal entity and operation, what the samples found, computed from the
counters the shadow traffic keeps in the store.

Not the counting itself (see `gateway.service.shadow`) nor the comparison (see
`shadow_compare`). A sample is kept as the set of fields that differed in it (its signature), so
that a field found to be noise later still does not count as a difference in any sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

SAMPLES = "samples"  # sampled requests whose primary answered
COMPARABLE = "comparable"  # compared: the record was present in both, both answered
NOT_COMPARABLE = "not_comparable"  # the record is present in one ERP only
SKIPPED = "skipped"  # not sent: the concurrency cap or the shadow backend's budget was full
FAILED = "failed"  # the shadow call failed or timed out (an ERP fault, not a difference)
NOISE_CHECKS = "noise_checks"  # samples whose primary was called twice
NOISE_SKIPPED = "noise_skipped"  # noise checks not made: the primary's budget was the clients'
SIGNATURE = "sig:"  # + the sorted fields that differed in one comparable sample
NOISE = "noise:"  # + a field that differed between two calls to the primary
COUNTERS = (SAMPLES, COMPARABLE, NOT_COMPARABLE, SKIPPED, FAILED, NOISE_CHECKS, NOISE_SKIPPED)
TOP_FIELDS = 10
EXAMPLES_PER_FIELD = 3
SCOPE_SEPARATOR = "|"
# What a move is decided on, never noise (globs over `field_of` paths): amounts, prices,
# quantities, currencies, statuses and a decision's outcome. An ERP that answers one of them
# differently twice is a finding of its own; were it noise, one such check would hide every
# difference in that field between the ERPs from the match rate.
NEVER_NOISE: tuple[str, ...] = (
    "*amount*",
    "*price*",
    "*quantity",
    "*currency",
    "credit_limit",
    "status",
    "hold_reason",
    "outcome",
    "codes*",
    "credit_hold",
)


def scope_of(legal_entity: str, operation: str) -> str:
    return f"{legal_entity}{SCOPE_SEPARATOR}{operation}"


def signature(fields: Iterable[str]) -> str:
    return SIGNATURE + ",".join(sorted(set(fields)))


def is_noise(field: str, noise: Iterable[str]) -> bool:
    """Whether a field that differed between the ERPs counts as noise: it differed between two
    calls to the primary too, and it is none of `NEVER_NOISE`."""
    return field in noise and not any(fnmatchcase(field, g) for g in NEVER_NOISE)


@dataclass(frozen=True)
class FieldCount:
    field: str
    count: int
    examples: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "count": self.count, "examples": list(self.examples)}


@dataclass(frozen=True)
class ScopeReport:
    """One legal entity and operation."""

    legal_entity: str
    operation: str
    samples: int
    comparable: int
    not_comparable: int
    skipped: int
    failed: int
    matches: int
    noise_checks: int
    noise_skipped: int
    differences: tuple[FieldCount, ...]
    noise: tuple[FieldCount, ...]

    @property
    def match_rate(self) -> float | None:
        return self.matches / self.comparable if self.comparable else None

    def to_json(self) -> dict[str, Any]:
        return {
            "legal_entity": self.legal_entity,
            "operation": self.operation,
            "samples": self.samples,
            "comparable": self.comparable,
            "not_comparable": self.not_comparable,
            "skipped": self.skipped,
            "failed": self.failed,
            "matches": self.matches,
            "match_rate": self.match_rate,
            "noise_checks": self.noise_checks,
            "noise_skipped": self.noise_skipped,
            "differences": [f.to_json() for f in self.differences],
            "noise": [f.to_json() for f in self.noise],
        }


def scope_report(
    scope: str, counts: Mapping[str, int], examples: Sequence[str] = ()
) -> ScopeReport:
    """The report of one scope from its counters and its latest example pairs (JSON objects
    `{"field", "primary", "shadow"}`, newest first)."""
    legal_entity, _, operation = scope.partition(SCOPE_SEPARATOR)
    noise = {k.removeprefix(NOISE): n for k, n in counts.items() if k.startswith(NOISE)}
    by_field: dict[str, int] = {}
    matches = 0
    for key, n in counts.items():
        if not key.startswith(SIGNATURE):
            continue
        fields = [f for f in key.removeprefix(SIGNATURE).split(",") if f and not is_noise(f, noise)]
        if not fields:
            matches += n
        for field in fields:
            by_field[field] = by_field.get(field, 0) + n
    pairs: dict[str, list[Mapping[str, Any]]] = {}
    for raw in examples:
        example = json.loads(raw)
        kept = pairs.setdefault(example["field"], [])
        pair = {"primary": example["primary"], "shadow": example["shadow"]}
        if len(kept) < EXAMPLES_PER_FIELD and pair not in kept:  # a few distinct pairs
            kept.append(pair)
    top = sorted(by_field.items(), key=lambda item: (-item[1], item[0]))[:TOP_FIELDS]
    return ScopeReport(
        legal_entity=legal_entity,
        operation=operation,
        samples=counts.get(SAMPLES, 0),
        comparable=counts.get(COMPARABLE, 0),
        not_comparable=counts.get(NOT_COMPARABLE, 0),
        skipped=counts.get(SKIPPED, 0),
        failed=counts.get(FAILED, 0),
        matches=matches,
        noise_checks=counts.get(NOISE_CHECKS, 0),
        noise_skipped=counts.get(NOISE_SKIPPED, 0),
        differences=tuple(FieldCount(f, n, tuple(pairs.get(f, ()))) for f, n in top),
        noise=tuple(
            FieldCount(f, n) for f, n in sorted(noise.items(), key=lambda i: (-i[1], i[0]))
        ),
    )


def shadow_report(
    counters: Mapping[str, Mapping[str, int]], examples: Mapping[str, Sequence[str]]
) -> list[ScopeReport]:
    """Every scope's report, by legal entity then operation."""
    return [scope_report(s, counters[s], examples.get(s, ())) for s in sorted(counters)]


MatchRates = Mapping[str, Mapping[str, tuple[int, int]]]


def match_rates(scopes: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per legal entity and operation, (matches, comparable), from the report's JSON: what
    `gateway plan` weighs beside the operations a change would move."""
    rates: dict[str, dict[str, tuple[int, int]]] = {}
    for scope in scopes:
        ops = rates.setdefault(scope["legal_entity"], {})
        matches, comparable = ops.get(scope["operation"], (0, 0))
        ops[scope["operation"]] = (matches + scope["matches"], comparable + scope["comparable"])
    return rates


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f} %"


def report_text(scopes: Sequence[Mapping[str, Any]]) -> str:
    """The report as `gateway shadow report` prints it, from the admin API's JSON."""
    if not scopes:
        return "no shadow samples yet (does a rule in routes.yaml carry a `shadow:`?)"
    lines = []
    for s in scopes:
        lines.append(
            f"{s['legal_entity']} {s['operation']}: {s['samples']} samples, "
            f"{s['comparable']} comparable, match rate {_percent(s['match_rate'])} "
            f"({s['matches']} of {s['comparable']}); {s['not_comparable']} not comparable, "
            f"{s['skipped']} skipped, {s['failed']} failed"
        )
        for d in s["differences"]:
            lines.append(f"  differs  {d['field']}: {d['count']}")
            for e in d["examples"]:
                lines.append(f"           primary {e['primary']!r}  shadow {e['shadow']!r}")
        noise = ", ".join(f"{n['field']} ({n['count']})" for n in s["noise"])
        skipped = s.get("noise_skipped", 0)
        checks = f"{s['noise_checks']} noise checks" + (f", {skipped} skipped" if skipped else "")
        if noise or skipped:
            lines.append(f"  noise    {noise or 'none'} (in {checks})")
    return "\n".join(lines)

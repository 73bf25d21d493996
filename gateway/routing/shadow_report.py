"""The shadow report: per legal entity and operation, what the samples found, computed from the
counters the shadow traffic keeps in the store.

Not the counting itself (see `gateway.service.shadow`) nor the comparison (see
`shadow_compare`). A sample is kept as the set of fields that differed in it (its signature), so
that a field found to be noise later still does not count as a difference in any sample.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from gateway.config.routes import MIN_COMPARABLE, MIN_RECORDS
from gateway.domain.operations import Operation

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


# What a scope's distinct records are, by operation (a quote's or a create's: its customer).
RECORD_NOUNS: Mapping[str, tuple[str, str]] = {Operation.SALES_ORDERS_READ: ("order", "orders")}
CUSTOMERS = ("customer", "customers")


def records_text(operation: str, n: int) -> str:
    """`n` distinct records of `operation`, in words: "4 customers", "1 order"."""
    one, many = RECORD_NOUNS.get(operation, CUSTOMERS)
    return f"{n} {one if n == 1 else many}"


ENOUGH = "enough"
NOT_ENOUGH = "not_enough"


@dataclass(frozen=True)
class EvidenceBar:
    """How much a match rate must rest on before it is evidence (a rule's `min_comparable`
    and `min_records`): so many comparable samples, of so many distinct records."""

    min_comparable: int = MIN_COMPARABLE
    min_records: int = MIN_RECORDS


DEFAULT_BAR = EvidenceBar()


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
    # The distinct records (customers; orders of an order read) the comparable samples compared:
    # a thousand reads of one customer are one customer's evidence.
    distinct_records: int = 0
    bar: EvidenceBar = DEFAULT_BAR  # the bar of the rule that shadows it now

    @property
    def match_rate(self) -> float | None:
        return self.matches / self.comparable if self.comparable else None

    @property
    def evidence(self) -> str:
        """`enough` once the samples clear the bar in number and in breadth, else
        `not_enough`: one matching sample is a 100 % match rate, and no evidence."""
        bar = self.bar
        if self.comparable >= bar.min_comparable and self.distinct_records >= bar.min_records:
            return ENOUGH
        return NOT_ENOUGH

    def to_json(self) -> dict[str, Any]:
        return {
            "legal_entity": self.legal_entity,
            "operation": self.operation,
            "samples": self.samples,
            "comparable": self.comparable,
            "distinct_records": self.distinct_records,
            "not_comparable": self.not_comparable,
            "skipped": self.skipped,
            "failed": self.failed,
            "matches": self.matches,
            "match_rate": self.match_rate,
            "evidence": self.evidence,
            "min_comparable": self.bar.min_comparable,
            "min_records": self.bar.min_records,
            "noise_checks": self.noise_checks,
            "noise_skipped": self.noise_skipped,
            "differences": [f.to_json() for f in self.differences],
            "noise": [f.to_json() for f in self.noise],
        }


def scope_report(
    scope: str,
    counts: Mapping[str, int],
    examples: Sequence[str] = (),
    distinct_records: int = 0,
    bar: EvidenceBar = DEFAULT_BAR,
) -> ScopeReport:
    """The report of one scope from its counters, its latest example pairs (JSON objects
    `{"field", "primary", "shadow"}`, newest first), how many distinct records it compared, and
    the bar its evidence is held to."""
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
        distinct_records=distinct_records,
        bar=bar,
    )


def shadow_report(
    counters: Mapping[str, Mapping[str, int]],
    examples: Mapping[str, Sequence[str]],
    records: Mapping[str, int] | None = None,
    bar_of: Callable[[str, str], EvidenceBar] | None = None,
) -> list[ScopeReport]:
    """Every scope's report, by legal entity then operation; `bar_of(legal_entity, operation)`
    gives each its evidence bar (the default one without)."""
    records = records or {}
    reports = []
    for scope in sorted(counters):
        legal_entity, _, operation = scope.partition(SCOPE_SEPARATOR)
        bar = bar_of(legal_entity, operation) if bar_of is not None else DEFAULT_BAR
        reports.append(
            scope_report(
                scope, counters[scope], examples.get(scope, ()), records.get(scope, 0), bar
            )
        )
    return reports


@dataclass(frozen=True)
class ScopeEvidence:
    """What the shadow samples of one legal entity and operation say, as `gateway plan` shows
    it: matches of comparable samples, over how many distinct records, and whether that is
    enough evidence (None: a gateway that does not say)."""

    matches: int
    comparable: int
    records: int | None = None
    enough: bool | None = None

    def text(self, operation: str) -> str:
        rate = f"{self.matches * 100 / self.comparable:.1f} %"
        samples = "sample" if self.comparable == 1 else "samples"
        detail = f"{self.matches} of {self.comparable} {samples}"
        if self.records is not None:
            detail += f", {records_text(operation, self.records)}"
        if self.enough is False:
            detail += ": not enough evidence"
        return f"{operation} {rate} ({detail})"


MatchRates = Mapping[str, Mapping[str, ScopeEvidence]]


def match_rates(scopes: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, ScopeEvidence]]:
    """Per legal entity and operation, the evidence of its samples, from the report's JSON:
    what `gateway plan` weighs beside the operations a change would move."""
    rates: dict[str, dict[str, ScopeEvidence]] = {}
    for scope in scopes:
        evidence = scope.get("evidence")
        rates.setdefault(scope["legal_entity"], {})[scope["operation"]] = ScopeEvidence(
            scope["matches"],
            scope["comparable"],
            scope.get("distinct_records"),
            None if evidence is None else evidence == ENOUGH,
        )
    return rates


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f} %"


def _evidence_text(scope: Mapping[str, Any]) -> str:
    wanted = (
        f"at least {scope['min_comparable']} comparable samples of "
        f"{records_text(scope['operation'], scope['min_records'])}"
    )
    if scope["evidence"] == ENOUGH:
        return f"  evidence enough: {wanted}"
    return f"  evidence not enough: {wanted} wanted"


def report_text(scopes: Sequence[Mapping[str, Any]]) -> str:
    """The report as `gateway shadow report` prints it, from the admin API's JSON."""
    if not scopes:
        return "no shadow samples yet (does a rule in routes.yaml carry a `shadow:`?)"
    lines = []
    for s in scopes:
        compared = f"{s['comparable']} comparable"
        if s.get("distinct_records") is not None:
            compared += f" of {records_text(s['operation'], s['distinct_records'])}"
        lines.append(
            f"{s['legal_entity']} {s['operation']}: {s['samples']} samples, "
            f"{compared}, match rate {_percent(s['match_rate'])} "
            f"({s['matches']} of {s['comparable']}); {s['not_comparable']} not comparable, "
            f"{s['skipped']} skipped, {s['failed']} failed"
        )
        if s.get("evidence") is not None:
            lines.append(_evidence_text(s))
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

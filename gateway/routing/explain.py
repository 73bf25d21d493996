"""Why a request would go where it goes: every rule considered, and why it matched or not.

Not the decision itself (`RoutingTable.decide` makes it; this reports on it); for people.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from gateway.domain.operations import ALL_OPERATIONS
from gateway.routing.affinity import BUCKETS, split_bucket
from gateway.routing.rules import (
    DEFAULT_RULE_ID,
    Allocation,
    CompiledFreeze,
    CompiledRule,
    LegalEntity,
    RouteDecision,
    RoutingTable,
    SplitDecision,
    rfc3339,
)


class UnknownName(ValueError):
    """An operation or legal entity the routes do not know; `field` names which (`operation`,
    `legal_entity`), for an answer that points at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RuleVerdict:
    """One rule as the explanation saw it: matched, not matched (with why), or never reached."""

    rule: CompiledRule
    matched: bool
    reached: bool
    why: tuple[str, ...]  # for a match: the facts that matched; otherwise: what did not


@dataclass(frozen=True)
class SplitPlacement:
    """Under a canary split: its shares, and the customer's key and bucket if one was named."""

    allocation: Allocation
    customer: str | None
    bucket: int | None

    def text(self) -> str:
        shares = self.allocation.text()
        if self.bucket is None:
            return (
                f"split {shares}: name a customer (--customer-id) to see its share; a request "
                "that names none goes to the largest share"
            )
        place = self.bucket * 100 / BUCKETS
        backend = self.allocation.pick(self.bucket)
        return (
            f"split {shares}: customer {self.customer} is at {place:.2f} % of the buckets, "
            f"in {backend}'s share"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "shares": {b: self.allocation.percent(b) for b in self.allocation.backends},
            "customer": self.customer,
            "bucket_percent": None if self.bucket is None else self.bucket * 100 / BUCKETS,
            "text": self.text(),
        }


@dataclass(frozen=True)
class Explanation:
    operation: str
    legal_entity: LegalEntity
    verdicts: tuple[RuleVerdict, ...]
    decision: RouteDecision
    default_backend: str
    at: dt.datetime
    customer_home: str | None = None
    frozen: CompiledFreeze | None = None
    split: SplitPlacement | None = None
    thaws: float | None = None  # when writes are frozen no more, past the freeze's own end
    # What the rules alone decided, when the request addresses an existing customer (its
    # read) and `decision` is where that customer's presence sends it instead.
    ruled: RouteDecision | None = None

    @property
    def home_differs(self) -> bool:
        return self.customer_home is not None and self.customer_home != self.decision.backend

    def as_dict(self) -> dict[str, Any]:
        """The explanation as data (`POST /admin/routes/explain`), with its text."""
        decision = self.decision
        frozen = self.frozen
        return {
            "operation": self.operation,
            "legal_entity": self.legal_entity.code,
            "at": self.at.isoformat(),
            "decision": {
                "backend": decision.backend,
                "rule": decision.rule_id,
                "reason": decision.reason,
                "until": rfc3339(decision.until) if decision.until is not None else None,
            },
            "rules": [
                {
                    "id": v.rule.id,
                    "backend": v.rule.target,
                    "window": v.rule.window.text(),
                    "verdict": _status(v),
                    "why": list(v.why),
                }
                for v in self.verdicts
            ],
            "frozen": (
                {
                    "id": frozen.id,
                    "window": frozen.window.text(),
                    "reason": frozen.reason,
                    "thaws": rfc3339(self.thaws if self.thaws is not None else frozen.window.ends),
                }
                if frozen is not None and frozen.window.ends is not None
                else None
            ),
            "customer_home": self.customer_home,
            "split": self.split.as_dict() if self.split is not None else None,
            "text": self.text(),
        }

    def text(self) -> str:
        le = self.legal_entity
        lines = [
            f"Operation:    {self.operation}",
            f"Legal entity: {le.code} {le.name} (region {le.region}, country {le.country}, "
            f"currency {le.currency})",
            f"At:           {self.at.isoformat(timespec='seconds')}",
            "",
            "Rules, in order (the first match wins):" if self.verdicts else "No rules configured.",
        ]
        for number, verdict in enumerate(self.verdicts, start=1):
            lines.extend(_verdict_lines(number, verdict))
        if self.decision.rule_id == DEFAULT_RULE_ID:
            lines.append(f"  -  no rule matched: default_backend {self.default_backend}")
        lines += ["", f"Decision: {self.decision.backend} ({self.decision.reason})"]
        if self.split is not None:
            lines.append(f"Split:    {self.split.text()}")
        if self.decision.until is not None:
            lines.append(f"Until:    {rfc3339(self.decision.until)} (the rules change then)")
        if self.frozen is not None:
            freeze = self.frozen
            lines.append(
                f"Frozen:   by {freeze.id} {freeze.window.text()}: writes get 503 "
                f"legal_entity_frozen ({freeze.reason})"
            )
            if self.thaws is not None and self.thaws != freeze.window.ends:
                lines.append(
                    f"Thaws:    {rfc3339(self.thaws)}: the freezes that follow on from it "
                    "end then (Retry-After counts to it)"
                )
        ruled = self.ruled
        if ruled is not None:
            where = (
                "it is present there"
                if ruled.backend == self.decision.backend
                else f"it is not present there: read at its home, {self.decision.backend}"
            )
            lines.append(f"Note: the rules name {ruled.backend} for this customer; {where}.")
        elif self.home_differs:
            lines.append(
                f"Note: this customer's home is {self.customer_home}. Only new records follow "
                "the decision above; its orders, shipments and invoices are read and cancelled "
                "where they live, and the customer is read where the rules send it if it is "
                f"present there, else at its home ({self.customer_home})."
            )
        elif self.customer_home is not None:
            lines.append(f"Note: this customer's home is {self.customer_home} as well.")
        return "\n".join(lines)


def _status(verdict: RuleVerdict) -> str:
    if not verdict.reached:
        return "not reached (an earlier rule matched)"
    return "MATCH" if verdict.matched else "no match"


def _verdict_lines(number: int, verdict: RuleVerdict) -> list[str]:
    rule = verdict.rule
    status = _status(verdict)
    window = f" [{rule.window.text()}]" if rule.window.bounded else ""
    head = f"  {number}. {rule.id} -> {rule.target}{window}: {status}"
    lines = [head]
    if rule.description:
        lines.append(f"       {rule.description}")
    lines.extend(f"       - {why}" for why in verdict.why)
    return lines


def explain(
    table: RoutingTable,
    operation: str,
    legal_entity: str,
    *,
    customer_home: str | None = None,
    customer_id: str | None = None,
    external_ref: str | None = None,
    at: dt.datetime | None = None,
    placed: RouteDecision | None = None,
) -> Explanation:
    """Where a new request for `operation` in `legal_entity` goes, and why.

    `customer_home` is the backend an existing customer lives on (from the xref), if known;
    under a split, the customer's share is that of its bucket, as the routing step reads it:
    from `customer_id`, or for a customer being created, from its `external_ref`;
    `placed` where the request goes when it addresses that customer itself (its read: the
    routing step's placement, by the ERPs it is present in), which then is the decision.
    Raises UnknownName, with the known names, for an unknown operation or legal entity.
    """
    if operation not in ALL_OPERATIONS:
        raise UnknownName("operation", _unknown("operation", operation, ALL_OPERATIONS))
    entity = table.legal_entity(legal_entity)
    if entity is None:
        known = sorted(table.legal_entities)
        raise UnknownName("legal_entity", _unknown("legal entity", legal_entity, known))
    moment = at or dt.datetime.now(dt.UTC)
    instant = moment.timestamp()
    cell = table.cell(operation, legal_entity, instant)
    bucket = split_bucket(customer_id, external_ref)
    decision = table.decide(operation, legal_entity, instant, bucket)
    split = None
    if isinstance(cell, SplitDecision):
        split = SplitPlacement(cell.allocation, customer_id or external_ref, bucket)
    verdicts = []
    decided = False
    for rule in table.rules:
        why = _reasons(rule, operation, entity, instant)
        matched = rule.matches(operation, entity, instant)
        verdicts.append(RuleVerdict(rule, matched and not decided, not decided, why))
        decided = decided or matched
    return Explanation(
        operation,
        entity,
        tuple(verdicts),
        placed or decision,
        table.default_backend,
        moment,
        customer_home,
        table.frozen(operation, legal_entity, instant),
        split,
        table.thaws(operation, legal_entity, instant),
        decision if placed is not None else None,
    )


def _reasons(rule: CompiledRule, operation: str, entity: LegalEntity, at: float) -> tuple[str, ...]:
    """Each criterion of the rule, and whether this request meets it."""
    reasons = []
    if rule.window.bounded:
        verb = "is" if rule.window.holds_at(at) else "is not"
        reasons.append(f"the time {verb} within its window ({rule.window.text()})")
    globs = rule.operation_globs
    if globs is None:
        reasons.append("any operation")
    else:
        hits = [g for g in globs if fnmatchcase(operation, g)]
        shown = ", ".join(globs)
        reasons.append(
            f"operation {operation} matches {hits[0]!r}"
            if hits
            else f"operation {operation} matches none of {shown}"
        )
    if rule.regions is None:
        reasons.append("any region")
    else:
        verb = "is" if entity.region in rule.regions else "is not"
        reasons.append(f"region {entity.region} {verb} in {_listed(rule.regions)}")
    if rule.legal_entities is not None:
        verb = "is" if entity.code in rule.legal_entities else "is not"
        reasons.append(f"legal entity {entity.code} {verb} in {_listed(rule.legal_entities)}")
    return tuple(reasons)


def _listed(values: frozenset[str]) -> str:
    return "[" + ", ".join(sorted(values)) + "]"


def _unknown(what: str, value: str, known: list[str] | tuple[str, ...]) -> str:
    message = f"unknown {what} {value!r}"
    close = [k for k in known if k.lower() == value.lower()] or difflib.get_close_matches(
        value, known, n=1
    )
    if close:
        message += f": did you mean {close[0]!r}?"
    return f"{message} (known: {', '.join(known)})"

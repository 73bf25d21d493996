"""The compiled routing table: which backend is the system of record for an operation and legal
entity at a given second, and which writes are frozen then.

Not the YAML schema (see `gateway.config.routes`) and not records' homes (an existing record is
served where it lives; see `gateway.pipeline.routing`). Built once per load; `decide` is the seam.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.config.routes import Freeze, Replication, RouteRule, RoutesConfig
from gateway.domain.listing import known
from gateway.domain.operations import (
    ALL_OPERATIONS,
    FREEZABLE,
    WRITE_OPERATIONS,
    operations_matching,
)
from gateway.routing.affinity import BUCKETS

DEFAULT_RULE_ID = "default"
HOME_RULE_ID = "home"  # what X-Route-Rule says when a record's home decided, not a rule
MATCH_ALL = "*"

Instant = float  # seconds since the epoch (UTC), as `time.time()` gives them


@dataclass(frozen=True)
class Allocation:
    """Where a rule sends what it matches: one backend, or shares of the customers (a split).
    `shares` are (backend, the bucket its share ends before), cumulative, in the rule's order:
    the first backend takes the lowest buckets, so raising its share keeps its customers."""

    shares: tuple[tuple[str, int], ...]

    @classmethod
    def single(cls, backend: str) -> Allocation:
        return cls(((backend, BUCKETS),))

    @classmethod
    def split(cls, percents: Mapping[str, float]) -> Allocation:
        shares, upper = [], 0
        for backend, percent in percents.items():
            upper += round(percent * BUCKETS / 100)
            shares.append((backend, upper))
        last_backend, _ = shares[-1]
        shares[-1] = (last_backend, BUCKETS)  # whatever rounding left goes to the last share
        return cls(tuple(shares))

    @property
    def is_split(self) -> bool:
        return len(self.shares) > 1

    @property
    def backends(self) -> tuple[str, ...]:
        return tuple(backend for backend, _ in self.shares)

    def pick(self, bucket: int) -> str:
        for backend, upper in self.shares:
            if bucket < upper:
                return backend
        return self.shares[-1][0]

    def percent(self, backend: str) -> float:
        lower = 0
        for name, upper in self.shares:
            if name == backend:
                return (upper - lower) * 100 / BUCKETS
            lower = upper
        return 0.0

    def text(self) -> str:
        if not self.is_split:
            return self.shares[0][0]
        return " / ".join(f"{b} {self.percent(b):g} %" for b in self.backends)

    def moves_from(self, before: Allocation) -> dict[tuple[str, str], float]:
        """(from, to) -> percent of customers whose backend changes from `before` to this."""
        edges = sorted({0, *(u for _, u in self.shares), *(u for _, u in before.shares)})
        moved: dict[tuple[str, str], float] = {}
        for low, high in itertools.pairwise(edges):
            old, new = before.pick(low), self.pick(low)
            if old != new:
                moved[(old, new)] = moved.get((old, new), 0.0) + (high - low) * 100 / BUCKETS
        return moved


def _instant(moment: dt.datetime | None) -> Instant | None:
    return moment.timestamp() if moment is not None else None


def rfc3339(instant: Instant) -> str:
    """An instant as people write it in routes.yaml: `2026-12-01T06:00:00Z`."""
    moment = dt.datetime.fromtimestamp(instant, dt.UTC)
    text = moment.isoformat(timespec="seconds" if moment.microsecond == 0 else "milliseconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """A span of time: from `starts` (inclusive) to `ends` (exclusive); None is unbounded."""

    starts: Instant | None = None
    ends: Instant | None = None

    @property
    def bounded(self) -> bool:
        return self.starts is not None or self.ends is not None

    def holds_at(self, at: Instant) -> bool:
        return (self.starts is None or at >= self.starts) and (self.ends is None or at < self.ends)

    def overlaps(self, other: Window) -> bool:
        starts = max(self.starts or -math.inf, other.starts or -math.inf)
        ends = min(self.ends or math.inf, other.ends or math.inf)
        return starts < ends

    def text(self) -> str:
        parts = []
        if self.starts is not None:
            parts.append(f"from {rfc3339(self.starts)}")
        if self.ends is not None:
            parts.append(f"until {rfc3339(self.ends)}")
        return " ".join(parts) or "always"


@dataclass(frozen=True)
class LegalEntity:
    """A legal entity's reference facts, from `routes.yaml`."""

    code: str
    name: str
    region: str
    country: str
    currency: str


@dataclass(frozen=True)
class RouteDecision:
    """Where a new request goes, which rule sent it there and why, in one short sentence, and
    until when this holds (`until`: the next second the decision for its operation and legal
    entity changes; None: for good)."""

    backend: str
    rule_id: str
    reason: str
    until: Instant | None = None


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its operation globs already expanded to the operations they match.

    `None` in a criterion means the rule does not constrain it.
    """

    id: str
    description: str | None
    allocation: Allocation
    operation_globs: tuple[str, ...] | None
    operations: frozenset[str]
    regions: frozenset[str] | None
    legal_entities: frozenset[str] | None
    window: Window = Window()

    @property
    def target(self) -> str:
        """Where it sends requests, as people read it: a backend, or a split's shares."""
        return self.allocation.text()

    def covers_operation(self, operation: str) -> bool:
        return operation in self.operations

    def covers_region(self, entity: LegalEntity) -> bool:
        return self.regions is None or entity.region in self.regions

    def covers_legal_entity(self, entity: LegalEntity) -> bool:
        return self.legal_entities is None or entity.code in self.legal_entities

    def covers(self, operation: str, entity: LegalEntity) -> bool:
        """Whether the rule matches `operation` for `entity` at some time (its window aside)."""
        return (
            self.covers_operation(operation)
            and self.covers_region(entity)
            and self.covers_legal_entity(entity)
        )

    def matches(self, operation: str, entity: LegalEntity, at: Instant) -> bool:
        return self.window.holds_at(at) and self.covers(operation, entity)

    def reason(self, operation: str, entity: LegalEntity) -> str:
        """Why this rule matches `operation` for `entity` (call only when it does)."""
        facts = []
        if self.operation_globs is not None and self.operation_globs != (MATCH_ALL,):
            facts.append(f"operation {operation}")
        if self.regions is not None:
            facts.append(f"region {entity.region}")
        if self.legal_entities is not None:
            facts.append(f"legal entity {entity.code}")
        if self.window.bounded:
            facts.append(self.window.text())
        return f"rule {self.id}: " + (", ".join(facts) if facts else "matches everything")


@dataclass(frozen=True)
class CompiledFreeze:
    """A freeze with its operation globs expanded."""

    id: str
    legal_entities: frozenset[str]
    operations: frozenset[str]
    window: Window
    reason: str

    def covers(self, operation: str, legal_entity: str) -> bool:
        return operation in self.operations and legal_entity in self.legal_entities

    def retry_after_s(self, at: Instant, until: Instant | None = None) -> int:
        """Whole seconds until the freeze ends (or `until`: the end of the freezes that
        overlap it or follow on without a gap), at least 1 (for `Retry-After`)."""
        ends = until if until is not None else self.window.ends
        assert ends is not None
        return max(1, math.ceil(ends - at))


@dataclass(frozen=True)
class SplitDecision:
    """A split rule's decision, before the customer is known: one RouteDecision per share,
    each built at compile time; `pick` only bisects the customer's bucket (see `affinity`)."""

    allocation: Allocation
    rule_id: str
    choices: tuple[RouteDecision, ...]  # in the allocation's order
    bounds: tuple[int, ...]
    fallback: RouteDecision  # the largest share: for a request that names no customer

    def pick(self, bucket: int | None) -> RouteDecision:
        if bucket is None:
            return self.fallback
        return self.choices[bisect.bisect_right(self.bounds, bucket)]


Cell = RouteDecision | SplitDecision  # what the table holds per operation and legal entity


def allocation_of(cell: Cell) -> Allocation:
    return cell.allocation if isinstance(cell, SplitDecision) else Allocation.single(cell.backend)


@dataclass(frozen=True)
class Period:
    """A span of time in which no rule or freeze starts or ends: one lookup table for it."""

    window: Window
    decisions: Mapping[tuple[str, str], Cell]
    freezes: Mapping[tuple[str, str], CompiledFreeze]
    # When each frozen (operation, legal entity) thaws: the end of its freeze, or of the
    # freezes that overlap it or follow on from it without a gap.
    thaws: Mapping[tuple[str, str], Instant]


def _until(cell: Cell, until: Instant | None) -> Cell:
    if isinstance(cell, RouteDecision):
        return dataclasses.replace(cell, until=until)
    return dataclasses.replace(
        cell,
        choices=tuple(dataclasses.replace(c, until=until) for c in cell.choices),
        fallback=dataclasses.replace(cell.fallback, until=until),
    )


def _lasting(periods: list[Period]) -> tuple[Period, ...]:
    """The periods, each decision holding `until` the first later period that decides its
    operation and legal entity otherwise: another entity's wave, or a freeze, changes nothing
    for it (and `gateway explain` would name a second at which nothing happens)."""
    later: dict[tuple[str, str], tuple[Cell, Instant | None]] = {}
    lasting = []
    for period in reversed(periods):
        decisions = {}
        for key, cell in period.decisions.items():
            following = later.get(key)
            if following is None:
                until = None
            else:
                next_cell, next_until = following
                until = next_until if next_cell == cell else period.window.ends
            later[key] = (cell, until)
            decisions[key] = _until(cell, until)
        lasting.append(dataclasses.replace(period, decisions=decisions))
    return tuple(reversed(lasting))


def compile_rule(rule: RouteRule) -> CompiledRule:
    match = rule.match
    globs = tuple(match.operations) if match.operations is not None else None
    allocation = (
        Allocation.split(rule.split)
        if rule.split is not None
        else Allocation.single(rule.targets[0])
    )
    return CompiledRule(
        id=rule.id,
        description=rule.description,
        allocation=allocation,
        operation_globs=globs,
        operations=operations_matching(globs),
        regions=frozenset(match.regions) if match.regions is not None else None,
        legal_entities=(
            frozenset(match.legal_entities) if match.legal_entities is not None else None
        ),
        window=Window(_instant(rule.effective_from), _instant(rule.effective_until)),
    )


def compile_freeze(freeze: Freeze) -> CompiledFreeze:
    """A freeze stops what its globs match among the freezable operations (every write when
    it names none): a glob such as `sales_orders.*` or `*` never freezes a read."""
    globs = freeze.operations
    return CompiledFreeze(
        id=freeze.id,
        legal_entities=frozenset(freeze.legal_entities),
        operations=(
            operations_matching(globs) & FREEZABLE if globs is not None else WRITE_OPERATIONS
        ),
        window=Window(freeze.starts.timestamp(), freeze.ends.timestamp()),
        reason=freeze.reason,
    )


class RoutingTable:
    """Every (operation, legal entity) decision and freeze, per period of time, computed at
    compile time.

    The rules' and freezes' windows cut time into periods; each period has its own table, so
    `decide` is a binary search over a handful of instants and one dict lookup: no glob, regex
    or rule scan on the request path, and a wave takes effect at its second on every process
    that has the same routes.yaml, without a reload.
    """

    def __init__(
        self,
        rules: tuple[CompiledRule, ...],
        default_backend: str,
        legal_entities: Mapping[str, LegalEntity],
        freezes: tuple[CompiledFreeze, ...] = (),
        replicate_customers: Replication = Replication.ON_DEMAND,
    ) -> None:
        self.rules = rules
        self.default_backend = default_backend
        self.legal_entities: Mapping[str, LegalEntity] = MappingProxyType(dict(legal_entities))
        self.freezes = freezes
        self.replicate_customers = replicate_customers
        self._by_operation: dict[str, tuple[CompiledRule, ...]] = {
            op: tuple(r for r in rules if r.covers_operation(op)) for op in ALL_OPERATIONS
        }
        windows = [r.window for r in rules] + [f.window for f in freezes]
        self._boundaries = sorted(
            {w.starts for w in windows if w.starts is not None}
            | {w.ends for w in windows if w.ends is not None}
        )
        edges: list[Instant | None] = [None, *self._boundaries, None]
        self._periods = _lasting(
            [self._period(Window(edges[i], edges[i + 1])) for i in range(len(edges) - 1)]
        )

    def _period(self, window: Window) -> Period:
        # Every instant of the period decides alike; its start (or a moment before its end,
        # for the first) stands for all of them.
        at = window.starts if window.starts is not None else (window.ends or 0.0) - 1.0
        decisions = {}
        freezes = {}
        thaws = {}
        for op in ALL_OPERATIONS:
            for code, entity in self.legal_entities.items():
                decisions[(op, code)] = self._first_match(op, entity, at)
                frozen = next(
                    (f for f in self.freezes if f.window.holds_at(at) and f.covers(op, code)), None
                )
                if frozen is not None:
                    freezes[(op, code)] = frozen
                    thaws[(op, code)] = self._thaw(op, code, frozen)
        return Period(window, decisions, freezes, thaws)

    def _thaw(self, operation: str, legal_entity: str, freeze: CompiledFreeze) -> Instant:
        """When `operation` in `legal_entity`, frozen by `freeze`, is frozen no more: a freeze
        that holds when it ends (overlapping it, or starting as it ends) carries it on."""
        ends = freeze.window.ends
        assert ends is not None, "a freeze has an end"
        while True:
            later = [
                f.window.ends
                for f in self.freezes
                if f.window.ends is not None
                and f.window.holds_at(ends)
                and f.covers(operation, legal_entity)
            ]
            if not later:
                return ends
            ends = max(later)

    def _first_match(self, operation: str, entity: LegalEntity, at: Instant) -> Cell:
        """The decision at `at`, for good (`_lasting` sets until when it holds)."""
        for rule in self._by_operation[operation]:
            if rule.matches(operation, entity, at):
                reason = rule.reason(operation, entity)
                allocation = rule.allocation
                if not allocation.is_split:
                    return RouteDecision(allocation.backends[0], rule.id, reason)
                choices = tuple(
                    RouteDecision(
                        backend,
                        rule.id,
                        f"{reason}; the customer is in {backend}'s "
                        f"{allocation.percent(backend):g} % of the split {allocation.text()}",
                    )
                    for backend in allocation.backends
                )
                largest = max(allocation.backends, key=allocation.percent)
                return SplitDecision(
                    allocation,
                    rule.id,
                    choices,
                    tuple(upper for _, upper in allocation.shares),
                    RouteDecision(
                        largest,
                        rule.id,
                        f"{reason}; no customer named: the largest share of the split "
                        f"{allocation.text()}",
                    ),
                )
        return RouteDecision(
            self.default_backend,
            DEFAULT_RULE_ID,
            f"no rule matched; default backend {self.default_backend}",
        )

    def period_at(self, at: Instant) -> Period:
        return self._periods[bisect.bisect_right(self._boundaries, at)]

    @property
    def periods(self) -> tuple[Period, ...]:
        """The periods, in time order (the first and last are unbounded)."""
        return self._periods

    def decide(
        self,
        operation: str,
        legal_entity: str,
        at: Instant | None = None,
        bucket: int | None = None,
    ) -> RouteDecision:
        """The backend a new request for `operation` in `legal_entity` goes to at `at`
        (default: now); under a split, the share the customer's `bucket` falls in (see
        `gateway.routing.affinity.split_bucket`)."""
        cell = self.cell(operation, legal_entity, at)
        return cell if isinstance(cell, RouteDecision) else cell.pick(bucket)

    def cell(self, operation: str, legal_entity: str, at: Instant | None = None) -> Cell:
        """What the table holds for `operation` in `legal_entity` at `at`: a decision, or a
        split's decisions before the customer is known."""
        period = self.period_at(time.time() if at is None else at)
        cell = period.decisions.get((operation, legal_entity))
        if cell is None:
            raise ValueError(self._unknown(operation, legal_entity))
        return cell

    def frozen(
        self, operation: str, legal_entity: str, at: Instant | None = None
    ) -> CompiledFreeze | None:
        """The freeze that refuses `operation` in `legal_entity` at `at`, if any."""
        period = self.period_at(time.time() if at is None else at)
        return period.freezes.get((operation, legal_entity))

    def thaws(self, operation: str, legal_entity: str, at: Instant) -> Instant | None:
        """When `operation` in `legal_entity`, frozen at `at`, is frozen no more (None: it is
        not frozen then): the end of every freeze that carries on from the one at `at`."""
        return self.period_at(at).thaws.get((operation, legal_entity))

    def legal_entity(self, code: str) -> LegalEntity | None:
        return self.legal_entities.get(code)

    def rules_for(self, operation: str) -> tuple[CompiledRule, ...]:
        """The rules whose operation globs cover `operation`, in order."""
        return self._by_operation.get(operation, ())

    def _unknown(self, operation: str, legal_entity: str) -> str:
        if operation not in self._by_operation:
            return f"unknown operation {operation!r} {known(ALL_OPERATIONS)}"
        return f"unknown legal entity {legal_entity!r} {known(self.legal_entities)}"


def legal_entities_of(routes: RoutesConfig) -> dict[str, LegalEntity]:
    return {
        code: LegalEntity(code, ref.name, ref.region, ref.country, ref.currency)
        for code, ref in routes.legal_entities.items()
    }


def compile_routes(routes: RoutesConfig) -> RoutingTable:
    """The routing table of a validated routes.yaml (references are checked by the linter)."""
    return RoutingTable(
        tuple(compile_rule(r) for r in routes.rules),
        routes.default_backend,
        legal_entities_of(routes),
        tuple(compile_freeze(f) for f in routes.freezes),
        routes.replicate_customers,
    )

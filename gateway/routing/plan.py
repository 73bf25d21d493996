"""What a change to routes.yaml would do, for review before it goes live: every legal entity and
operation whose backend changes, from when, and every freeze added, removed or changed.

Not the decision (see `rules.py`) nor the lint (see `lint.py`); it compares two routing tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.operations import ALL_OPERATIONS, SHADOWABLE, WRITE_OPERATIONS
from gateway.routing.rules import (
    Allocation,
    CompiledFreeze,
    Instant,
    RoutingTable,
    allocation_of,
    rfc3339,
)
from gateway.routing.shadow_report import MatchRates


@dataclass(frozen=True)
class Move:
    """From `starts` (None: as soon as the change is live) until `ends` (None: for good),
    new requests for `operations` in `legal_entity` go to `new` instead of `old`."""

    legal_entity: str
    operations: tuple[str, ...]
    old: str  # a backend, or a split's shares
    new: str
    rule: str
    starts: Instant | None
    ends: Instant | None
    # Under a split: (from, to, percent of the customers) for each share that moves.
    moving: tuple[tuple[str, str, float], ...] = ()

    def text(self) -> str:
        when = f"from {rfc3339(self.starts)}" if self.starts is not None else "at once"
        if self.ends is not None:
            when += f" until {rfc3339(self.ends)}"
        what = (
            "every operation"
            if set(self.operations) == set(ALL_OPERATIONS)
            else ", ".join(self.operations)
        )
        line = f"{self.legal_entity} {what}: {self.old} -> {self.new} {when} (rule {self.rule})"
        if self.moving:
            shares = ", ".join(f"{p:g} % of customers {a} -> {b}" for a, b, p in self.moving)
            line += f"; {shares}"
        return line


@dataclass(frozen=True)
class FreezeChange:
    change: str  # added, removed, changed
    freeze: CompiledFreeze
    before: CompiledFreeze | None = None  # a changed freeze as it was

    def text(self) -> str:
        line = f"freeze {self.freeze.id} {self.change}: {_freeze_text(self.freeze)}"
        if self.before is not None:
            line += f"; was {_freeze_text(self.before)}"
        return line


def _freeze_text(freeze: CompiledFreeze) -> str:
    """Its legal entities, the operations it stops unless every write (its default), its
    window and its reason."""
    parts = [", ".join(sorted(freeze.legal_entities))]
    if freeze.operations != WRITE_OPERATIONS:
        parts.append(f"{', '.join(sorted(freeze.operations))} only")
    parts.append(freeze.window.text())
    return f"{', '.join(parts)} ({freeze.reason})"


@dataclass(frozen=True)
class EntityChange:
    """A legal entity that routes.yaml lists from now on (`added`, with where its requests go)
    or no longer (`removed`)."""

    change: str  # added, removed
    legal_entity: str
    name: str
    routes: tuple[Move, ...] = ()  # for one added: its requests' backends, as moves from none

    def text(self) -> list[str]:
        if self.change == "removed":
            return [
                f"{self.legal_entity} ({self.name}) removed: new requests for it are refused "
                "(400, unknown legal entity); its existing records are still served where "
                "they live"
            ]
        lines = [f"{self.legal_entity} ({self.name}) added; its new requests go:"]
        return lines + [f"    {m.text()}" for m in self.routes]


@dataclass(frozen=True)
class Plan:
    moves: tuple[Move, ...]
    freezes: tuple[FreezeChange, ...]
    entities: tuple[EntityChange, ...] = ()

    def text(self, match_rates: MatchRates | None = None) -> str:
        """The plan for review; with `match_rates` (legal entity -> operation -> what its
        shadow samples say), the evidence beside each move, of the operations it moves."""
        lines = ["Backends that change for new requests:"]
        lines += [f"  {m.text()}{_evidence(m, match_rates)}" for m in self.moves]
        lines += [] if self.moves else ["  none"]
        if self.entities:
            lines += ["", "Legal entities:"]
            lines += [f"  {line}" for e in self.entities for line in e.text()]
        lines += ["", "Freezes:"]
        lines += [f"  {f.text()}" for f in self.freezes] or ["  no change"]
        return "\n".join(lines)


def _evidence(move: Move, match_rates: MatchRates | None) -> str:
    """The shadow samples of the operations `move` moves, and those it moves unmeasured: a
    legal entity's customer reads that matched say nothing of its orders."""
    if match_rates is None:
        return ""
    rates = match_rates.get(move.legal_entity, {})
    shadowable = sorted(op for op in move.operations if op in SHADOWABLE)
    measured = [op for op in shadowable if op in rates and rates[op].comparable]
    parts = []
    if measured:
        # Each operation apart: a sum would weigh many reads of a few customers as breadth,
        # and distinct records of two operations do not add up.
        each = ", ".join(rates[op].text(op) for op in measured)
        parts.append(f"shadow match rate {each}")
    unmeasured = [op for op in shadowable if op not in measured]
    if unmeasured:
        prefix = "no" if measured else "shadow: no"
        parts.append(f"{prefix} comparable sample of {', '.join(unmeasured)}")
    return "".join(f"; {part}" for part in parts)


def plan(old: RoutingTable, new: RoutingTable, now: Instant) -> Plan:
    """What changes from `now` on if `new` replaces `old` (legal entities of either)."""
    instants = sorted(
        {now}
        | {p.window.starts for p in (*old.periods, *new.periods) if p.window.starts is not None}
    )
    instants = [t for t in instants if t >= now]
    moves: list[Move] = []
    for code in sorted(set(old.legal_entities) & set(new.legal_entities)):
        moves += _moves(old, new, code, instants, now)
    moves.sort(key=lambda m: (m.starts or 0.0, m.legal_entity, m.operations))
    entities = [
        EntityChange(
            "added",
            code,
            new.legal_entities[code].name,
            tuple(_moves(None, new, code, instants, now)),
        )
        for code in sorted(set(new.legal_entities) - set(old.legal_entities))
    ]
    entities += [
        EntityChange("removed", code, old.legal_entities[code].name)
        for code in sorted(set(old.legal_entities) - set(new.legal_entities))
    ]
    return Plan(tuple(moves), _freeze_changes(old, new), tuple(entities))


def _moves(
    old: RoutingTable | None, new: RoutingTable, code: str, instants: list[Instant], now: Instant
) -> list[Move]:
    """Where `new` sends `code`'s requests otherwise than `old` (None: `code` is new), per
    span of time and operations alike."""
    spans: dict[tuple[Allocation, Allocation, str, Instant | None, Instant | None], list[str]]
    spans = {}
    for operation in ALL_OPERATIONS:
        for starts, ends, before, after in _differences(old, new, operation, code, instants):
            key = (before, after[0], after[1], starts, ends)
            spans.setdefault(key, []).append(operation)
    moves = []
    for (before, allocation, rule, starts, ends), operations in spans.items():
        shown_start = None if starts is not None and starts <= now else starts
        moving: tuple[tuple[str, str, float], ...] = ()
        if old is not None and (before.is_split or allocation.is_split):
            moving = tuple(
                (a, b, percent) for (a, b), percent in allocation.moves_from(before).items()
            )
        shown_before = before.text() if old is not None else "none"
        moves.append(
            Move(
                code,
                tuple(operations),
                shown_before,
                allocation.text(),
                rule,
                shown_start,
                ends,
                moving,
            )
        )
    return moves


_NOWHERE = Allocation.single("")  # what a legal entity routes.yaml did not list had


def _differences(
    old: RoutingTable | None,
    new: RoutingTable,
    operation: str,
    code: str,
    instants: list[Instant],
) -> list[tuple[Instant | None, Instant | None, Allocation, tuple[Allocation, str]]]:
    """The spans of time (start, end) in which the two tables send `operation` for `code`
    to different backends (or shares of them), merged where consecutive spans differ alike."""
    spans: list[tuple[Instant | None, Instant | None, Allocation, tuple[Allocation, str]]] = []
    for i, at in enumerate(instants):
        before = allocation_of(old.cell(operation, code, at)) if old is not None else _NOWHERE
        cell = new.cell(operation, code, at)
        ends = instants[i + 1] if i + 1 < len(instants) else None
        if before == allocation_of(cell):
            continue
        after = (allocation_of(cell), cell.rule_id)
        if spans and spans[-1][1] == at and spans[-1][2:] == (before, after):
            spans[-1] = (spans[-1][0], ends, before, after)
        else:
            spans.append((at, ends, before, after))
    return spans


def _freeze_changes(old: RoutingTable, new: RoutingTable) -> tuple[FreezeChange, ...]:
    before = {f.id: f for f in old.freezes}
    after = {f.id: f for f in new.freezes}
    changes = [FreezeChange("added", f) for i, f in after.items() if i not in before]
    changes += [FreezeChange("removed", f) for i, f in before.items() if i not in after]
    changes += [
        FreezeChange("changed", f, before[i])
        for i, f in after.items()
        if i in before and before[i] != f
    ]
    return tuple(sorted(changes, key=lambda c: (c.freeze.id, c.change)))

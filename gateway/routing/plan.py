"""What a change to routes.yaml would do, for review before it goes live: every legal entity and
operation whose backend changes, from when, and every freeze added, removed or changed.

Not the decision (see `rules.py`) nor the lint (see `lint.py`); it compares two routing tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.domain.operations import ALL_OPERATIONS
from gateway.routing.rules import (
    Allocation,
    CompiledFreeze,
    Instant,
    RoutingTable,
    allocation_of,
    rfc3339,
)


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

    def text(self) -> str:
        f = self.freeze
        entities = ", ".join(sorted(f.legal_entities))
        return f"freeze {f.id} {self.change}: {entities}, {f.window.text()} ({f.reason})"


@dataclass(frozen=True)
class Plan:
    moves: tuple[Move, ...]
    freezes: tuple[FreezeChange, ...]

    def text(self, match_rates: Mapping[str, tuple[int, int]] | None = None) -> str:
        """The plan for review; with `match_rates` (legal entity -> (matches, comparable)
        shadow samples), the evidence beside each legal entity that moves."""
        lines = ["Backends that change for new requests:"]
        lines += [f"  {m.text()}{_evidence(m.legal_entity, match_rates)}" for m in self.moves]
        lines += [] if self.moves else ["  none"]
        lines += ["", "Freezes:"]
        lines += [f"  {f.text()}" for f in self.freezes] or ["  no change"]
        return "\n".join(lines)


def _evidence(legal_entity: str, match_rates: Mapping[str, tuple[int, int]] | None) -> str:
    if match_rates is None:
        return ""
    matches, comparable = match_rates.get(legal_entity, (0, 0))
    if not comparable:
        return "; shadow: no comparable sample yet"
    return f"; shadow match rate {matches * 100 / comparable:.1f} % ({matches} of {comparable})"


def plan(old: RoutingTable, new: RoutingTable, now: Instant) -> Plan:
    """What changes from `now` on if `new` replaces `old` (legal entities of either)."""
    instants = sorted(
        {now}
        | {p.window.starts for p in (*old.periods, *new.periods) if p.window.starts is not None}
    )
    instants = [t for t in instants if t >= now]
    codes = sorted(set(old.legal_entities) & set(new.legal_entities))
    moves: list[Move] = []
    for code in codes:
        spans: dict[tuple[Allocation, Allocation, str, Instant | None, Instant | None], list[str]]
        spans = {}
        for operation in ALL_OPERATIONS:
            for starts, ends, before, after in _differences(old, new, operation, code, instants):
                key = (before, after[0], after[1], starts, ends)
                spans.setdefault(key, []).append(operation)
        for (before, allocation, rule, starts, ends), operations in spans.items():
            shown_start = None if starts is not None and starts <= now else starts
            moving: tuple[tuple[str, str, float], ...] = ()
            if before.is_split or allocation.is_split:
                moving = tuple(
                    (a, b, percent) for (a, b), percent in allocation.moves_from(before).items()
                )
            moves.append(
                Move(
                    code,
                    tuple(operations),
                    before.text(),
                    allocation.text(),
                    rule,
                    shown_start,
                    ends,
                    moving,
                )
            )
    moves.sort(key=lambda m: (m.starts or 0.0, m.legal_entity, m.operations))
    return Plan(tuple(moves), _freeze_changes(old, new))


def _differences(
    old: RoutingTable, new: RoutingTable, operation: str, code: str, instants: list[Instant]
) -> list[tuple[Instant | None, Instant | None, Allocation, tuple[Allocation, str]]]:
    """The spans of time (start, end) in which the two tables send `operation` for `code`
    to different backends (or shares of them), merged where consecutive spans differ alike."""
    spans: list[tuple[Instant | None, Instant | None, Allocation, tuple[Allocation, str]]] = []
    for i, at in enumerate(instants):
        before = allocation_of(old.cell(operation, code, at))
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
        FreezeChange("changed", f) for i, f in after.items() if i in before and before[i] != f
    ]
    return tuple(sorted(changes, key=lambda c: (c.freeze.id, c.change)))

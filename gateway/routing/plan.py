"""What a change to routes.yaml would do, for review before it goes live: every legal entity and
operation whose backend changes, from when, and every freeze added, removed or changed.

Not the decision (see `rules.py`) nor the lint (see `lint.py`); it compares two routing tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.operations import ALL_OPERATIONS
from gateway.routing.rules import CompiledFreeze, Instant, RoutingTable, rfc3339


@dataclass(frozen=True)
class Move:
    """From `starts` (None: as soon as the change is live) until `ends` (None: for good),
    new requests for `operations` in `legal_entity` go to `new` instead of `old`."""

    legal_entity: str
    operations: tuple[str, ...]
    old: str
    new: str
    rule: str
    starts: Instant | None
    ends: Instant | None

    def text(self) -> str:
        when = f"from {rfc3339(self.starts)}" if self.starts is not None else "at once"
        if self.ends is not None:
            when += f" until {rfc3339(self.ends)}"
        what = (
            "every operation"
            if set(self.operations) == set(ALL_OPERATIONS)
            else ", ".join(self.operations)
        )
        return f"{self.legal_entity} {what}: {self.old} -> {self.new} {when} (rule {self.rule})"


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

    def text(self) -> str:
        lines = ["Backends that change for new requests:"]
        lines += [f"  {m.text()}" for m in self.moves] or ["  none"]
        lines += ["", "Freezes:"]
        lines += [f"  {f.text()}" for f in self.freezes] or ["  no change"]
        return "\n".join(lines)


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
        spans: dict[tuple[str, str, str, Instant | None, Instant | None], list[str]] = {}
        for operation in ALL_OPERATIONS:
            for starts, ends, before, after in _differences(old, new, operation, code, instants):
                key = (before, after[0], after[1], starts, ends)
                spans.setdefault(key, []).append(operation)
        for (before, backend, rule, starts, ends), operations in spans.items():
            shown_start = None if starts is not None and starts <= now else starts
            moves.append(Move(code, tuple(operations), before, backend, rule, shown_start, ends))
    moves.sort(key=lambda m: (m.starts or 0.0, m.legal_entity, m.operations))
    return Plan(tuple(moves), _freeze_changes(old, new))


def _differences(
    old: RoutingTable, new: RoutingTable, operation: str, code: str, instants: list[Instant]
) -> list[tuple[Instant | None, Instant | None, str, tuple[str, str]]]:
    """The spans of time (start, end) in which the two tables send `operation` for `code`
    to different backends, merged where consecutive spans differ alike."""
    spans: list[tuple[Instant | None, Instant | None, str, tuple[str, str]]] = []
    for i, at in enumerate(instants):
        before = old.decide(operation, code, at).backend
        decision = new.decide(operation, code, at)
        ends = instants[i + 1] if i + 1 < len(instants) else None
        if before == decision.backend:
            continue
        after = (decision.backend, decision.rule_id)
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

"""The migration map: for each legal entity, where its new transactions go now, by which rule,
and the next change of system of record the rules already hold; its freeze now or next.

What the operations dashboard shows. Computed from the compiled table's periods, not from the
rules again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.domain.operations import Operation
from gateway.routing.rules import (
    CompiledFreeze,
    Instant,
    RoutingTable,
    allocation_of,
    rfc3339,
)

# The operation a legal entity's "home" is judged by: where its new orders go.
MAP_OPERATION = Operation.SALES_ORDERS_CREATE


@dataclass(frozen=True)
class MapRow:
    legal_entity: str
    name: str
    region: str
    backend: str  # a backend, or a split's shares ("cloud 10 % / legacy 90 %")
    rule: str
    next_backend: str | None
    next_rule: str | None
    next_at: Instant | None
    freeze: CompiledFreeze | None  # in force now
    next_freeze: CompiledFreeze | None  # the next one to start

    def as_dict(self) -> dict[str, Any]:
        return {
            "legal_entity": self.legal_entity,
            "name": self.name,
            "region": self.region,
            "backend": self.backend,
            "rule": self.rule,
            "next": None
            if self.next_at is None
            else {
                "backend": self.next_backend,
                "rule": self.next_rule,
                "at": rfc3339(self.next_at),
            },
            "freeze": _freeze(self.freeze),
            "next_freeze": _freeze(self.next_freeze),
        }


def _freeze(freeze: CompiledFreeze | None) -> dict[str, Any] | None:
    if freeze is None:
        return None
    window = freeze.window
    return {
        "id": freeze.id,
        "reason": freeze.reason,
        "starts": rfc3339(window.starts) if window.starts is not None else None,
        "ends": rfc3339(window.ends) if window.ends is not None else None,
        "operations": sorted(freeze.operations),
    }


def migration_map(table: RoutingTable, at: Instant) -> list[MapRow]:
    """One row per legal entity, in code order, as the rules stand at `at`."""
    rows = []
    for code in sorted(table.legal_entities):
        entity = table.legal_entities[code]
        now = table.cell(MAP_OPERATION, code, at)
        upcoming = None
        for period in table.periods:
            starts = period.window.starts
            if starts is None or starts <= at:
                continue
            later = period.decisions[(MAP_OPERATION, code)]
            if allocation_of(later) != allocation_of(now):
                upcoming = (later, starts)
                break
        current_freeze = next(
            (f for f in table.freezes if code in f.legal_entities and f.window.holds_at(at)), None
        )
        next_freeze = min(
            (
                f
                for f in table.freezes
                if code in f.legal_entities and f.window.starts is not None and f.window.starts > at
            ),
            key=lambda f: f.window.starts or 0.0,
            default=None,
        )
        rows.append(
            MapRow(
                code,
                entity.name,
                entity.region,
                allocation_of(now).text(),
                now.rule_id,
                allocation_of(upcoming[0]).text() if upcoming else None,
                upcoming[0].rule_id if upcoming else None,
                upcoming[1] if upcoming else None,
                current_freeze,
                next_freeze,
            )
        )
    return rows

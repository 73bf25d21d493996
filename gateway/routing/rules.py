"""The compiled routing table: which backend is the system of record for an operation and entity.

Not the YAML schema (see `gateway.config.routes`) and not records' homes (an existing record is
served where it lives; see `gateway.pipeline.routing`). Built once per load; `decide` is the seam.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.config.routes import RouteRule, RoutesConfig
from gateway.domain.operations import ALL_OPERATIONS, operations_matching

DEFAULT_RULE_ID = "default"
MATCH_ALL = "*"


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
    """Where a new request goes, which rule sent it there and why, in one short sentence."""

    backend: str
    rule_id: str
    reason: str


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its operation globs already expanded to the operations they match.

    `None` in a criterion means the rule does not constrain it.
    """

    id: str
    description: str | None
    backend: str
    operation_globs: tuple[str, ...] | None
    operations: frozenset[str]
    regions: frozenset[str] | None
    legal_entities: frozenset[str] | None

    def covers_operation(self, operation: str) -> bool:
        return operation in self.operations

    def covers_region(self, entity: LegalEntity) -> bool:
        return self.regions is None or entity.region in self.regions

    def covers_legal_entity(self, entity: LegalEntity) -> bool:
        return self.legal_entities is None or entity.code in self.legal_entities

    def matches(self, operation: str, entity: LegalEntity) -> bool:
        return (
            self.covers_operation(operation)
            and self.covers_region(entity)
            and self.covers_legal_entity(entity)
        )

    def reason(self, operation: str, entity: LegalEntity) -> str:
        """Why this rule matches `operation` for `entity` (call only when it does)."""
        facts = []
        if self.operation_globs is not None and self.operation_globs != (MATCH_ALL,):
            facts.append(f"operation {operation}")
        if self.regions is not None:
            facts.append(f"region {entity.region}")
        if self.legal_entities is not None:
            facts.append(f"legal entity {entity.code}")
        return f"rule {self.id}: " + (", ".join(facts) if facts else "matches everything")


def compile_rule(rule: RouteRule) -> CompiledRule:
    match = rule.match
    globs = tuple(match.operations) if match.operations is not None else None
    return CompiledRule(
        id=rule.id,
        description=rule.description,
        backend=rule.backend,
        operation_globs=globs,
        operations=operations_matching(globs),
        regions=frozenset(match.regions) if match.regions is not None else None,
        legal_entities=(
            frozenset(match.legal_entities) if match.legal_entities is not None else None
        ),
    )


class RoutingTable:
    """Every (operation, legal entity) decision, computed at compile time.

    There are 8 operations and a handful of legal entities, so `decide` is one dict lookup:
    no glob, regex or rule scan on the request path.
    """

    def __init__(
        self,
        rules: tuple[CompiledRule, ...],
        default_backend: str,
        legal_entities: Mapping[str, LegalEntity],
    ) -> None:
        self.rules = rules
        self.default_backend = default_backend
        self.legal_entities: Mapping[str, LegalEntity] = MappingProxyType(dict(legal_entities))
        self._by_operation: dict[str, tuple[CompiledRule, ...]] = {
            op: tuple(r for r in rules if r.covers_operation(op)) for op in ALL_OPERATIONS
        }
        self._decisions: dict[tuple[str, str], RouteDecision] = {
            (op, code): self._first_match(op, entity)
            for op in ALL_OPERATIONS
            for code, entity in self.legal_entities.items()
        }

    def _first_match(self, operation: str, entity: LegalEntity) -> RouteDecision:
        for rule in self._by_operation[operation]:
            if rule.covers_region(entity) and rule.covers_legal_entity(entity):
                return RouteDecision(rule.backend, rule.id, rule.reason(operation, entity))
        return RouteDecision(
            self.default_backend,
            DEFAULT_RULE_ID,
            f"no rule matched; default backend {self.default_backend}",
        )

    def decide(self, operation: str, legal_entity: str) -> RouteDecision:
        """The backend a new request for `operation` in `legal_entity` goes to."""
        decision = self._decisions.get((operation, legal_entity))
        if decision is None:
            raise ValueError(self._unknown(operation, legal_entity))
        return decision

    def legal_entity(self, code: str) -> LegalEntity | None:
        return self.legal_entities.get(code)

    def rules_for(self, operation: str) -> tuple[CompiledRule, ...]:
        """The rules whose operation globs cover `operation`, in order."""
        return self._by_operation.get(operation, ())

    def _unknown(self, operation: str, legal_entity: str) -> str:
        if operation not in self._by_operation:
            return f"unknown operation {operation!r} (known: {', '.join(ALL_OPERATIONS)})"
        known = ", ".join(sorted(self.legal_entities))
        return f"unknown legal entity {legal_entity!r} (known: {known})"


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
    )

"""The compiled shadow rules: for a request's operation and legal entity, whether a sample of
it is also sent to another backend, which one, and how the answers are compared.

Not the shadow traffic (see `gateway.service.shadow`) nor the comparison (see
`shadow_compare`). Sampling hashes the correlation id: the same request is sampled on every
process, and a test chooses ids to be sampled or not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config.routes import RoutesConfig, Shadow
from gateway.domain.operations import SHADOWABLE, operations_matching
from gateway.routing.rules import Instant, RoutingTable
from gateway.routing.shadow_compare import CompareRules
from gateway.routing.shadow_report import DEFAULT_BAR, EvidenceBar

SAMPLE_BUCKETS = 1_000_000
NOISE_SALT = "noise:"  # the noise baseline draws its own sample from the sampled requests


@dataclass(frozen=True)
class CompiledShadow:
    rule_id: str
    backend: str
    sample: float
    operations: frozenset[str]
    compare: CompareRules
    noise_sample: float
    timeout_s: float
    max_in_flight: int
    bar: EvidenceBar = DEFAULT_BAR


def sampled(key: str, rate: float, salt: str = "") -> bool:
    """Whether the request with correlation id `key` falls in a sample of `rate` (0 to 1)."""
    if rate >= 1:
        return True
    if rate <= 0:
        return False
    digest = hashlib.blake2b((salt + key).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % SAMPLE_BUCKETS < rate * SAMPLE_BUCKETS


def compile_shadow(rule_id: str, shadow: Shadow) -> CompiledShadow:
    return CompiledShadow(
        rule_id=rule_id,
        backend=shadow.backend,
        sample=shadow.sample,
        operations=operations_matching(shadow.operations) & SHADOWABLE,
        compare=CompareRules(
            ignore=tuple(shadow.ignore),
            absolute=shadow.tolerance.absolute,
            relative=shadow.tolerance.relative,
            tolerance_fields=tuple(shadow.tolerance.fields),
        ),
        noise_sample=shadow.noise_sample,
        timeout_s=shadow.timeout_s,
        max_in_flight=shadow.max_in_flight,
        bar=EvidenceBar(shadow.min_comparable, shadow.min_records),
    )


def compile_shadows(routes: RoutesConfig) -> dict[str, CompiledShadow]:
    """Each rule's shadow, by rule id (rules without one are absent)."""
    return {
        rule.id: compile_shadow(rule.id, rule.shadow)
        for rule in routes.rules
        if rule.shadow is not None
    }


class ShadowTable:
    """Which shadow, if any, covers an operation in a legal entity at an instant: the shadow of
    the rule the routing table decides by. One dict lookup past the table's own."""

    def __init__(self, table: RoutingTable, shadows: Mapping[str, CompiledShadow]) -> None:
        self._table = table
        self._shadows = dict(shadows)

    def __bool__(self) -> bool:
        return bool(self._shadows)

    def shadow_for(self, operation: str, legal_entity: str, at: Instant) -> CompiledShadow | None:
        if not self._shadows or self._table.legal_entity(legal_entity) is None:
            return None  # a record of a legal entity routes.yaml no longer lists: no rule
        cell = self._table.cell(operation, legal_entity, at)
        shadow = self._shadows.get(cell.rule_id)
        return shadow if shadow is not None and operation in shadow.operations else None

    def bar_for(self, operation: str, legal_entity: str, at: Instant) -> EvidenceBar:
        """The evidence bar of the shadow that covers `operation` in `legal_entity` at `at`;
        the default one when none does (any longer)."""
        shadow = self.shadow_for(operation, legal_entity, at)
        return shadow.bar if shadow is not None else DEFAULT_BAR

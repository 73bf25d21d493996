"""What the routing rules decide, checked for likely mistakes: a rule that never decides anything,
a legal entity routed to a backend that has no value map for it. Warnings, at a file and line.

Not references between files (see `gateway.config.lint`) nor the decision itself (`rules.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config.backends import BackendConfig
from gateway.config.issues import ROUTES_FILE, ConfigIssue
from gateway.config.lint import ParsedConfig, Reporter, backend_file
from gateway.config.routes import RoutesConfig
from gateway.domain.operations import ALL_OPERATIONS
from gateway.routing.rules import DEFAULT_RULE_ID, RouteDecision, compile_routes


def routing_issues(parsed: ParsedConfig) -> list[ConfigIssue]:
    """Warnings about what the rules of a parsed routes.yaml decide (none if it did not parse)."""
    if parsed.routes is None:
        return []
    report = Reporter(parsed.documents)
    _check_routing_outcome(report, parsed.routes, parsed.backends)
    return report.issues


def _all_decisions(routes: RoutesConfig) -> dict[tuple[str, str], RouteDecision]:
    table = compile_routes(routes)
    return {
        (op, code): table.decide(op, code)
        for op in ALL_OPERATIONS
        for code in routes.legal_entities
    }


def _check_routing_outcome(
    report: Reporter, routes: RoutesConfig, backends: Mapping[str, BackendConfig]
) -> None:
    decisions = _all_decisions(routes)
    deciding = {d.rule_id for d in decisions.values()}
    for i, rule in enumerate(routes.rules):
        if rule.id not in deciding and _could_match(rule.id, routes):
            report.warning(
                ROUTES_FILE,
                ["rules", i],
                f"rule {rule.id} never decides anything: earlier rules take every request "
                "it matches",
            )
    routed: dict[str, dict[str, str]] = {}  # backend -> legal entity -> a rule sending it there
    for (_, code), decision in decisions.items():
        routed.setdefault(decision.backend, {}).setdefault(code, decision.rule_id)
    for name, backend in backends.items():
        mapped = backend.value_maps.legal_entities
        missing = {code: rule for code, rule in routed.get(name, {}).items() if code not in mapped}
        for code, rule_id in sorted(missing.items()):
            by = "as the default backend" if rule_id == DEFAULT_RULE_ID else f"by rule {rule_id}"
            report.warning(
                backend_file(name),
                ["value_maps", "legal_entities"],
                f"legal entity {code} is routed here ({ROUTES_FILE}, {by}) but has no entry "
                "in value_maps.legal_entities",
            )


def _could_match(rule_id: str, routes: RoutesConfig) -> bool:
    """Whether the rule, alone first in the list, would match some operation and entity."""
    rule = next(r for r in routes.rules if r.id == rule_id)
    alone = routes.model_copy(update={"rules": [rule]})
    return any(d.rule_id == rule_id for d in _all_decisions(alone).values())

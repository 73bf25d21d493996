"""What the routing rules decide, checked for likely mistakes: a rule hidden by earlier ones, a
rule without a match before others or as a wave, a legal entity routed to a backend without a
value map for it, waves that overlap, freezes over.
Warnings, at a file and line.

Not references between files (see `gateway.config.lint`) nor the decision itself (`rules.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from gateway.config.backends import BackendConfig
from gateway.config.issues import ROUTES_FILE, ConfigIssue
from gateway.config.lint import ParsedConfig, Reporter, backend_file
from gateway.config.routes import RoutesConfig, RuleMatch
from gateway.config.yamlfile import YamlPath
from gateway.domain.operations import ALL_OPERATIONS
from gateway.routing.rules import (
    DEFAULT_RULE_ID,
    CompiledRule,
    RouteDecision,
    RoutingTable,
    SplitDecision,
    compile_routes,
    rfc3339,
)

Clock = Callable[[], float]
# How a rule names what it matches, as a warning of a rule without a match shows it.
_NAMED_MATCH = "match: {legal_entities: [...]}"


def routing_issues(parsed: ParsedConfig, clock: Clock = time.time) -> list[ConfigIssue]:
    """Warnings about what the rules of a parsed routes.yaml decide (none if it did not parse);
    `clock` says what "now" is (freezes already over)."""
    if parsed.routes is None:
        return []
    report = Reporter(parsed.documents)
    table = compile_routes(parsed.routes)
    _check_routing_outcome(report, parsed.routes, table, parsed.backends)
    _check_rules_without_match(report, parsed.routes)
    _check_overlapping_waves(report, table)
    _check_freezes_over(report, parsed.routes, clock())
    return report.issues


def _all_decisions(table: RoutingTable) -> list[tuple[str, str, RouteDecision]]:
    """Every decision the table makes, in every period of time (each share of a split)."""
    return [
        (op, code, decision)
        for period in table.periods
        for (op, code), cell in period.decisions.items()
        for decision in (cell.choices if isinstance(cell, SplitDecision) else (cell,))
    ]


def _check_routing_outcome(
    report: Reporter,
    routes: RoutesConfig,
    table: RoutingTable,
    backends: Mapping[str, BackendConfig],
) -> None:
    decisions = _all_decisions(table)
    deciding = {d.rule_id for _, _, d in decisions}
    for i, rule in enumerate(routes.rules):
        if rule.id not in deciding and _could_match(rule.id, routes):
            report.warning(
                ROUTES_FILE,
                ["rules", i],
                f"rule {rule.id} never decides anything: earlier rules take every request "
                "it matches",
            )
    routed: dict[str, dict[str, str]] = {}  # backend -> legal entity -> a rule sending it there
    for _, code, decision in decisions:
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
    alone = compile_routes(routes.model_copy(update={"rules": [rule]}))
    return any(d.rule_id == rule_id for _, _, d in _all_decisions(alone))


def _check_rules_without_match(report: Reporter, routes: RoutesConfig) -> None:
    """A rule without a match (`match: {}`, or none) matches every request, as documented: the
    last rule, it takes the rest. Anywhere else it is most likely a match forgotten: it hides
    every rule after it, and as a wave (`effective_from`) it moves everything at its second (a
    wave meant for US01 took every legal entity)."""
    for i, rule in enumerate(routes.rules):
        if rule.match != RuleMatch():
            continue
        at: YamlPath = ("rules", i, "match")  # `match: {}`, written, or else the rule's line
        if not report.written(ROUTES_FILE, at):
            at = ("rules", i)
        head = f"rule {rule.id} has no match, so it matches every request"
        after = [later.id for later in routes.rules[i + 1 :]]
        if after:
            report.warning(
                ROUTES_FILE,
                at,
                f"{head}: no rule after it ({', '.join(after)}) decides anything while it "
                f"holds; name what it matches ({_NAMED_MATCH}), or make it the last rule",
            )
        if rule.effective_from is not None:
            report.warning(
                ROUTES_FILE,
                at,
                f"{head}: from {rfc3339(rule.effective_from.timestamp())} it moves every legal "
                f"entity and operation at once; name what the wave moves ({_NAMED_MATCH})",
            )


def _check_overlapping_waves(report: Reporter, table: RoutingTable) -> None:
    """Two rules with windows that overlap in time, for a legal entity and operation they
    both cover, sending it to different backends: which one was meant to hold?"""
    rules = table.rules
    for later_index, later in enumerate(rules):
        for earlier in rules[:later_index]:
            if not (earlier.window.bounded or later.window.bounded):
                continue
            if earlier.allocation == later.allocation or not earlier.window.overlaps(later.window):
                continue
            shared = _shared_coverage(table, earlier, later)
            if shared is None:
                continue
            code, operation = shared
            report.warning(
                ROUTES_FILE,
                ["rules", later_index],
                f"rule {later.id} ({later.window.text()}) overlaps rule {earlier.id} "
                f"({earlier.window.text()}) for {code} {operation}: {earlier.id} wins while "
                "both hold; give one of them a window that ends where the other starts",
            )


def _shared_coverage(
    table: RoutingTable, first: CompiledRule, second: CompiledRule
) -> tuple[str, str] | None:
    for code, entity in sorted(table.legal_entities.items()):
        for operation in ALL_OPERATIONS:
            if first.covers(operation, entity) and second.covers(operation, entity):
                return code, operation
    return None


def _check_freezes_over(report: Reporter, routes: RoutesConfig, now: float) -> None:
    for i, freeze in enumerate(routes.freezes):
        if freeze.ends.timestamp() <= now:
            report.warning(
                ROUTES_FILE,
                ["freezes", i],
                f"freeze {freeze.id} is over (it ended {rfc3339(freeze.ends.timestamp())}); "
                "remove it",
            )

"""Routing: the first matching rule picks the backend; explain says why, rule by rule."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.config.loader import load_config
from gateway.config.routes import RoutesConfig
from gateway.domain import operations as operations_module
from gateway.domain.operations import ALL_OPERATIONS
from gateway.routing.explain import explain
from gateway.routing.rules import RouteDecision, RoutingTable, compile_routes
from gateway.routing.shadows import ShadowTable, compile_shadows

REPO = Path(__file__).resolve().parents[2]

LEGAL_ENTITIES = {
    "US01": {"name": "Acme US Inc.", "region": "NA", "country": "US", "currency": "USD"},
    "CA01": {"name": "Acme Canada Ltd.", "region": "NA", "country": "CA", "currency": "CAD"},
    "DE01": {"name": "Acme Deutschland GmbH", "region": "EMEA", "country": "DE", "currency": "EUR"},
    "GB01": {"name": "Acme UK Ltd.", "region": "EMEA", "country": "GB", "currency": "GBP"},
}


def table(*rules: dict[str, Any], default: str = "legacy") -> RoutingTable:
    routes = RoutesConfig.model_validate(
        {"legal_entities": LEGAL_ENTITIES, "rules": list(rules), "default_backend": default}
    )
    return compile_routes(routes)


@pytest.fixture(scope="module")
def demo() -> RoutingTable:
    return compile_routes(load_config(REPO, env={}).routes)


def test_the_demo_routes_us01_to_the_cloud_and_the_rest_to_legacy(
    demo: RoutingTable,
) -> None:
    for operation in ALL_OPERATIONS:
        backends = {code: demo.decide(operation, code).backend for code in demo.legal_entities}
        assert backends == {
            "US01": "cloud",
            "CA01": "legacy",
            "DE01": "legacy",
            "FR01": "legacy",
            "GB01": "legacy",
            "SG01": "legacy",
        }


def test_a_matching_rule_gives_its_id_and_a_short_reason(demo: RoutingTable) -> None:
    assert demo.decide("sales_orders.create", "US01") == RouteDecision(
        "cloud", "wave-1", "rule wave-1: legal entity US01"
    )


def test_an_unmatched_request_goes_to_the_default_backend(demo: RoutingTable) -> None:
    assert demo.decide("customers.read", "SG01") == RouteDecision(
        "legacy", "default", "no rule matched; default backend legacy"
    )


def test_the_first_matching_rule_wins() -> None:
    routes = table(
        {"id": "germany-early", "match": {"legal_entities": ["DE01"]}, "backend": "cloud"},
        {"id": "emea-stays", "match": {"regions": ["EMEA"]}, "backend": "legacy"},
        {"id": "everything", "backend": "sandbox"},
    )
    assert routes.decide("customers.create", "DE01").rule_id == "germany-early"
    assert routes.decide("customers.create", "GB01").rule_id == "emea-stays"
    assert routes.decide("customers.create", "US01").backend == "sandbox"


def test_operation_globs_select_operations_by_pattern() -> None:
    routes = table(
        {"id": "orders", "match": {"operations": ["sales_orders.*"]}, "backend": "cloud"}
    )
    routed = {op for op in ALL_OPERATIONS if routes.decide(op, "GB01").backend == "cloud"}
    assert routed == {"sales_orders.create", "sales_orders.read", "sales_orders.cancel"}
    assert routes.decide("sales_orders.read", "GB01").reason == (
        "rule orders: operation sales_orders.read"
    )


def test_match_keys_are_anded_and_list_values_are_ored() -> None:
    routes = table(
        {
            "id": "na-writes",
            "match": {
                "operations": ["customers.create", "sales_orders.create"],
                "regions": ["NA", "APAC"],
                "legal_entities": ["CA01", "DE01"],
            },
            "backend": "cloud",
        }
    )
    assert routes.decide("sales_orders.create", "CA01").backend == "cloud"
    assert routes.decide("customers.create", "CA01").backend == "cloud"
    assert routes.decide("customers.read", "CA01").backend == "legacy"  # operation not listed
    assert routes.decide("customers.create", "US01").backend == "legacy"  # entity not listed
    assert routes.decide("customers.create", "DE01").backend == "legacy"  # region not listed


def test_decide_does_no_pattern_work_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = table(
        {"id": "orders", "match": {"operations": ["sales_orders.*"]}, "backend": "cloud"},
        {"id": "na", "match": {"regions": ["NA"]}, "backend": "cloud"},
    )
    expected = {(op, le): routes.decide(op, le) for op in ALL_OPERATIONS for le in LEGAL_ENTITIES}

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("pattern matching on the request path")

    with monkeypatch.context() as patched:
        for module, name in (
            (fnmatch, "fnmatch"),
            (fnmatch, "fnmatchcase"),
            (fnmatch, "translate"),
            (operations_module, "fnmatchcase"),
            (re, "compile"),
            (re, "match"),
            (re, "fullmatch"),
        ):
            patched.setattr(module, name, forbidden)
        decided = {(op, le): routes.decide(op, le) for op, le in expected}
    assert decided == expected


def test_an_unknown_legal_entity_or_operation_cannot_be_decided(demo: RoutingTable) -> None:
    with pytest.raises(ValueError, match="unknown legal entity 'XX01'"):
        demo.decide("customers.read", "XX01")
    with pytest.raises(ValueError, match=re.escape("unknown operation 'customers.delete'")):
        demo.decide("customers.delete", "US01")


def test_the_table_holds_the_legal_entities_reference_data(demo: RoutingTable) -> None:
    germany = demo.legal_entity("DE01")
    assert germany is not None
    assert (germany.name, germany.region, germany.country, germany.currency) == (
        "Acme Deutschland GmbH",
        "EMEA",
        "DE",
        "EUR",
    )
    assert demo.legal_entity("XX01") is None
    assert sorted(demo.legal_entities) == ["CA01", "DE01", "FR01", "GB01", "SG01", "US01"]


# -- explain ------------------------------------------------------------------------------------

AT = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def test_explain_shows_the_facts_the_matching_rule_and_the_backend(demo: RoutingTable) -> None:
    text = explain(demo, "sales_orders.create", "US01", at=AT).text()
    assert "US01 Acme US Inc. (region NA, country US, currency USD)" in text
    assert "1. wave-1 -> cloud: MATCH" in text
    assert "legal entity US01 is in [US01]" in text
    assert "2026-03-01T09:30:00+00:00" in text
    assert text.splitlines()[-1] == "Decision: cloud (rule wave-1: legal entity US01)"


def test_explain_says_why_each_rule_missed_before_the_default(demo: RoutingTable) -> None:
    text = explain(demo, "invoices.read", "DE01", at=AT).text()
    assert "1. wave-1 -> cloud: no match" in text
    assert "legal entity DE01 is not in [US01]" in text
    assert "no rule matched: default_backend legacy" in text
    assert text.splitlines()[-1] == "Decision: legacy (no rule matched; default backend legacy)"


def test_explain_marks_rules_after_the_winner_as_not_reached() -> None:
    routes = table(
        {"id": "orders", "match": {"operations": ["sales_orders.*"]}, "backend": "cloud"},
        {"id": "na", "match": {"regions": ["NA"]}, "backend": "legacy"},
    )
    explanation = explain(routes, "sales_orders.read", "US01", at=AT)
    assert [(v.rule.id, v.matched, v.reached) for v in explanation.verdicts] == [
        ("orders", True, True),
        ("na", False, False),
    ]
    assert "2. na -> legacy: not reached" in explanation.text()


def test_explain_notes_that_existing_records_stay_at_their_home(demo: RoutingTable) -> None:
    moved = explain(demo, "sales_orders.cancel", "US01", customer_home="legacy", at=AT)
    assert moved.home_differs
    assert "read and cancelled where they live" in moved.text()
    assert "else at its home (legacy)" in moved.text()
    same = explain(demo, "sales_orders.cancel", "US01", customer_home="cloud", at=AT)
    assert not same.home_differs
    assert "where they live" not in same.text()


def test_explain_rejects_unknown_names_with_a_suggestion(demo: RoutingTable) -> None:
    with pytest.raises(ValueError, match=re.escape("did you mean 'sales_orders.create'")):
        explain(demo, "sales_order.create", "US01")
    with pytest.raises(ValueError, match="did you mean 'US01'"):
        explain(demo, "sales_orders.create", "us01")


def test_a_legal_entity_routes_yaml_no_longer_lists_has_no_shadow_and_no_error() -> None:
    rule = {
        "id": "de01-shadowed",
        "match": {"legal_entities": ["DE01"]},
        "backend": "legacy",
        "shadow": {"backend": "cloud", "sample": 1, "operations": ["customers.read"]},
    }
    routes = RoutesConfig.model_validate(
        {"legal_entities": LEGAL_ENTITIES, "rules": [rule], "default_backend": "legacy"}
    )
    shadows = ShadowTable(compile_routes(routes), compile_shadows(routes))
    assert shadows.shadow_for("customers.read", "DE01", AT.timestamp()) is not None
    assert (
        shadows.shadow_for("customers.read", "SG01", AT.timestamp()) is None
    )  # its records are still read

"""The shadow report and its noise baseline: counters in, per legal entity and operation out."""

from __future__ import annotations

import json

from gateway.config.routes import MIN_COMPARABLE, MIN_RECORDS, RoutesConfig
from gateway.routing.plan import plan
from gateway.routing.rules import compile_routes
from gateway.routing.shadow_report import (
    COMPARABLE,
    NOISE,
    NOISE_CHECKS,
    NOISE_SKIPPED,
    SAMPLES,
    SKIPPED,
    EvidenceBar,
    ScopeEvidence,
    match_rates,
    report_text,
    scope_of,
    scope_report,
    shadow_report,
    signature,
)


def test_match_rate_counts_samples_without_differences() -> None:
    counts = {SAMPLES: 10, COMPARABLE: 8, signature([]): 6, signature(["email"]): 2}
    report = scope_report(scope_of("DE01", "customers.read"), counts)
    assert (report.legal_entity, report.operation) == ("DE01", "customers.read")
    assert report.matches == 6 and report.match_rate == 6 / 8
    assert [(f.field, f.count) for f in report.differences] == [("email", 2)]


def test_a_noise_field_is_reported_apart_and_never_as_a_difference() -> None:
    counts = {
        SAMPLES: 4,
        COMPARABLE: 4,
        NOISE_CHECKS: 1,
        NOISE + "display_name": 1,
        signature(["display_name"]): 3,
        signature(["display_name", "email"]): 1,
    }
    report = scope_report(scope_of("DE01", "customers.read"), counts)
    assert [f.field for f in report.noise] == ["display_name"]
    assert [f.field for f in report.differences] == ["email"]
    # the samples that differed in noise only are matches: noise learnt later still counts
    assert report.matches == 3 and report.match_rate == 3 / 4


def test_noise_checks_skipped_for_the_clients_are_counted_and_printed() -> None:
    counts = {SAMPLES: 3, COMPARABLE: 3, NOISE_CHECKS: 1, NOISE_SKIPPED: 2, signature([]): 3}
    report = scope_report(scope_of("DE01", "customers.read"), counts).to_json()
    assert (report["noise_checks"], report["noise_skipped"]) == (1, 2)
    assert "  noise    none (in 1 noise checks, 2 skipped)" in report_text([report]).splitlines()


def test_fields_are_ranked_by_count_with_a_few_examples_each() -> None:
    counts = {COMPARABLE: 6, signature(["a"]): 1, signature(["a", "b"]): 3, signature(["b"]): 1}
    examples = [json.dumps({"field": "b", "primary": f"p{n}", "shadow": "s"}) for n in range(5)]
    report = scope_report(scope_of("US01", "sales_orders.read"), counts, examples)
    # equal counts: by name
    assert [(f.field, f.count) for f in report.differences] == [("a", 4), ("b", 4)]
    b = next(f for f in report.differences if f.field == "b")
    assert [e["primary"] for e in b.examples] == ["p0", "p1", "p2"]


def test_the_report_says_how_many_distinct_records_were_compared() -> None:
    counts = {SAMPLES: 8, COMPARABLE: 8, signature([]): 6, signature(["email"]): 2}
    customers = scope_report(scope_of("DE01", "customers.read"), counts, distinct_records=4)
    orders = scope_report(scope_of("US01", "sales_orders.read"), counts, distinct_records=1)
    assert (customers.distinct_records, customers.to_json()["distinct_records"]) == (4, 4)
    lines = report_text([customers.to_json(), orders.to_json()]).splitlines()
    assert lines[0].startswith(
        "DE01 customers.read: 8 samples, 8 comparable of 4 customers, match rate 75.0 % (6 of 8)"
    )
    [orders_line] = [line for line in lines if line.startswith("US01")]
    assert orders_line.startswith("US01 sales_orders.read: 8 samples, 8 comparable of 1 order, ")


def test_one_matching_sample_is_not_enough_evidence_whatever_its_match_rate() -> None:
    counts = {SAMPLES: 1, COMPARABLE: 1, signature([]): 1}
    report = scope_report(scope_of("DE01", "customers.read"), counts, distinct_records=1)
    assert report.match_rate == 1.0
    assert report.to_json()["evidence"] == "not_enough"
    assert report_text([report.to_json()]).splitlines()[1] == (
        f"  evidence not enough: at least {MIN_COMPARABLE} comparable samples of "
        f"{MIN_RECORDS} customers wanted"
    )


def test_many_samples_of_a_few_records_are_not_enough_evidence() -> None:
    counts = {SAMPLES: 500, COMPARABLE: 500, signature([]): 500}
    bar = EvidenceBar(min_comparable=100, min_records=30)
    narrow = scope_report(scope_of("DE01", "customers.read"), counts, (), 29, bar)
    broad = scope_report(scope_of("DE01", "customers.read"), counts, (), 30, bar)
    few = scope_report(scope_of("DE01", "customers.read"), {COMPARABLE: 99}, (), 99, bar)
    assert [r.evidence for r in (narrow, broad, few)] == ["not_enough", "enough", "not_enough"]
    shown = broad.to_json()
    assert (shown["evidence"], shown["min_comparable"], shown["min_records"]) == ("enough", 100, 30)
    assert report_text([shown]).splitlines()[1] == (
        "  evidence enough: at least 100 comparable samples of 30 customers"
    )


def test_no_comparable_sample_has_no_match_rate() -> None:
    report = scope_report(scope_of("SG01", "customers.read"), {SAMPLES: 2, SKIPPED: 2})
    assert report.match_rate is None and report.skipped == 2


def test_match_rates_are_per_legal_entity_and_operation() -> None:
    reports = shadow_report(
        {
            scope_of("DE01", "customers.read"): {COMPARABLE: 4, signature([]): 3},
            scope_of("DE01", "quotes.validate"): {COMPARABLE: 1, signature([]): 1},
            scope_of("FR01", "customers.read"): {COMPARABLE: 2, signature(["x"]): 2},
        },
        {},
        {scope_of("DE01", "customers.read"): 3, scope_of("DE01", "quotes.validate"): 1},
    )
    assert [r.legal_entity for r in reports] == ["DE01", "DE01", "FR01"]
    assert match_rates(r.to_json() for r in reports) == {
        "DE01": {
            "customers.read": ScopeEvidence(3, 4, 3, enough=False),
            "quotes.validate": ScopeEvidence(1, 1, 1, enough=False),
        },
        "FR01": {"customers.read": ScopeEvidence(0, 2, 0, enough=False)},
    }


def test_plan_prints_the_match_rate_beside_each_legal_entity_that_moves() -> None:
    entities = {
        "DE01": {"name": "D", "region": "EMEA", "country": "DE", "currency": "EUR"},
        "GB01": {"name": "G", "region": "EMEA", "country": "GB", "currency": "GBP"},
    }
    old = RoutesConfig.model_validate({"legal_entities": entities, "default_backend": "legacy"})
    new = RoutesConfig.model_validate(
        {
            "legal_entities": entities,
            "default_backend": "legacy",
            "rules": [
                {"id": "de01", "match": {"legal_entities": ["DE01"]}, "backend": "cloud"},
                {"id": "gb01", "match": {"legal_entities": ["GB01"]}, "backend": "cloud"},
            ],
        }
    )
    change = plan(compile_routes(old), compile_routes(new), 0.0)
    rates = {
        "DE01": {
            "customers.read": ScopeEvidence(200, 300, 120, enough=True),
            "quotes.validate": ScopeEvidence(1, 1, 1, enough=False),
        }
    }
    text = change.text(rates)
    assert "DE01 every operation: legacy -> cloud at once (rule de01); shadow match rate " in text
    assert (
        "; shadow match rate customers.read 66.7 % (200 of 300 samples, 120 customers), "
        "quotes.validate 100.0 % (1 of 1 sample, 1 customer: not enough evidence); "
        "no comparable sample of sales_orders.create, sales_orders.read" in text
    )
    assert (
        "GB01 every operation: legacy -> cloud at once (rule gb01); shadow: no comparable sample "
        "of customers.read, quotes.validate, sales_orders.create, sales_orders.read" in text
    )
    assert "shadow" not in change.text()


def test_examples_are_distinct_pairs() -> None:
    same = json.dumps({"field": "email", "primary": "string(16)", "shadow": "string(23)"})
    other = json.dumps({"field": "email", "primary": "string(9)", "shadow": "string(23)"})
    counts = {COMPARABLE: 3, signature(["email"]): 3}
    report = scope_report(scope_of("DE01", "customers.read"), counts, [same, same, other])
    [email] = report.differences
    assert [e["primary"] for e in email.examples] == ["string(16)", "string(9)"]


def test_a_business_field_is_never_folded_into_noise() -> None:
    # One noise check in a hundred saw the legacy ERP price a quote differently twice; the
    # cloud ERP prices 90 of 100 quotes differently: that is a finding, not noise.
    counts = {
        SAMPLES: 100,
        COMPARABLE: 100,
        NOISE_CHECKS: 100,
        NOISE + "net_amount": 1,
        NOISE + "currency": 1,
        signature(["net_amount"]): 85,
        signature(["currency", "net_amount"]): 5,
        signature([]): 10,
    }
    report = scope_report(scope_of("DE01", "quotes.validate"), counts)
    assert [f.field for f in report.noise] == ["currency", "net_amount"]
    assert [(f.field, f.count) for f in report.differences] == [
        ("net_amount", 90),
        ("currency", 5),
    ]
    assert report.matches == 10


def test_plan_weighs_only_the_operations_that_move() -> None:
    entities = {"DE01": {"name": "D", "region": "EMEA", "country": "DE", "currency": "EUR"}}
    old = RoutesConfig.model_validate({"legal_entities": entities, "default_backend": "legacy"})
    new = RoutesConfig.model_validate(
        {
            "legal_entities": entities,
            "default_backend": "legacy",
            "rules": [
                {
                    "id": "de01-orders",
                    "match": {"legal_entities": ["DE01"], "operations": ["sales_orders.*"]},
                    "backend": "cloud",
                }
            ],
        }
    )
    # Only DE01's customer reads were shadowed, all alike: no evidence about its orders.
    reports = shadow_report(
        {scope_of("DE01", "customers.read"): {COMPARABLE: 40, signature([]): 40}}, {}
    )
    text = plan(compile_routes(old), compile_routes(new), 0.0).text(
        match_rates(r.to_json() for r in reports)
    )
    [line] = [line for line in text.splitlines() if "rule de01-orders" in line]
    assert "match rate" not in line
    assert "no comparable sample of sales_orders.create, sales_orders.read" in line

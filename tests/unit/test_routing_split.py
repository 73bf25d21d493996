"""Canary splits: a customer's share is sticky (the same customer, the same backend, on every
process and load) and monotonic (raising the first backend's share keeps its customers), and
explain, plan and the checks speak of shares."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from gateway.config.routes import RouteRule, RoutesConfig
from gateway.domain.ids import new_gateway_id
from gateway.domain.operations import Kind, kind_of_id
from gateway.routing.affinity import BUCKETS, bucket_of, new_customer_id, split_bucket
from gateway.routing.explain import explain
from gateway.routing.plan import plan
from gateway.routing.rules import Allocation, compile_routes

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = [f"cus_{i:05d}" for i in range(5000)]


def routes_with(*rules: dict[str, Any]) -> RoutesConfig:
    document = yaml.safe_load((REPO / "routes.yaml").read_text())
    document["rules"] = list(rules) + document["rules"]
    return RoutesConfig.model_validate(document)


def canary(cloud: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": "canary-ca01",
        "match": {"legal_entities": ["CA01"], "operations": ["sales_orders.*", "customers.*"]},
        "split": {"cloud": cloud, "legacy": 100 - cloud},
        **extra,
    }


def cloud_customers(cloud: float) -> set[str]:
    table = compile_routes(routes_with(canary(cloud)))
    return {
        c
        for c in CUSTOMERS
        if table.decide("sales_orders.create", "CA01", 0.0, split_bucket(c)).backend == "cloud"
    }


def test_a_customer_always_lands_on_the_same_backend() -> None:
    first = compile_routes(routes_with(canary(30)))
    again = compile_routes(routes_with(canary(30)))  # another process, another load
    for customer in CUSTOMERS[:500]:
        backends = {
            table.decide(op, "CA01", 0.0, split_bucket(customer)).backend
            for table in (first, again)
            for op in ("sales_orders.create", "customers.read", "sales_orders.create")
        }
        assert len(backends) == 1, customer


def test_the_shares_hold_for_many_customers() -> None:
    share = len(cloud_customers(10)) / len(CUSTOMERS)
    assert 0.085 < share < 0.115  # 10 %, within sampling noise of 5000 customers


def test_raising_the_canary_keeps_every_customer_it_had() -> None:
    at_10, at_20, at_50, at_100 = (cloud_customers(p) for p in (10, 20, 50, 100))
    assert at_10 <= at_20 <= at_50 <= at_100
    assert at_100 == set(CUSTOMERS)
    assert len(at_20 - at_10) > 0


def test_lowering_it_sends_back_only_the_last_ones_in() -> None:
    assert cloud_customers(5) <= cloud_customers(10)


def test_a_request_naming_no_customer_goes_to_the_largest_share() -> None:
    table = compile_routes(routes_with(canary(10)))
    decision = table.decide("sales_orders.create", "CA01", 0.0, None)
    assert decision.backend == "legacy" and "largest share" in decision.reason


def test_buckets_are_spread_over_the_whole_range() -> None:
    buckets = [bucket_of(c) for c in CUSTOMERS]
    assert min(buckets) < BUCKETS // 100 and max(buckets) > BUCKETS - BUCKETS // 100


def test_moving_shares_are_counted_between_allocations() -> None:
    ten = Allocation.split({"cloud": 10, "legacy": 90})
    fifty = Allocation.split({"cloud": 50, "legacy": 50})
    assert fifty.moves_from(ten) == {("legacy", "cloud"): 40.0}
    assert Allocation.single("cloud").moves_from(ten) == {("legacy", "cloud"): 90.0}
    assert ten.text() == "cloud 10 % / legacy 90 %"


def test_explain_says_which_share_a_customer_is_in() -> None:
    table = compile_routes(routes_with(canary(10)))
    customer = next(c for c in CUSTOMERS if split_bucket(c) < BUCKETS // 10)
    explanation = explain(
        table, "sales_orders.create", "CA01", customer_id=customer, at=dt.datetime.now(dt.UTC)
    )
    assert explanation.decision.backend == "cloud"
    text = explanation.text()
    assert f"split cloud 10 % / legacy 90 %: customer {customer} is at" in text
    assert "in cloud's share" in text
    assert "canary-ca01 -> cloud 10 % / legacy 90 %" in text
    assert explanation.as_dict()["split"]["shares"] == {"cloud": 10.0, "legacy": 90.0}


def test_plan_says_which_share_of_customers_moves() -> None:
    old = compile_routes(routes_with(canary(10)))
    new = compile_routes(routes_with(canary(50)))
    text = plan(old, new, 0.0).text()
    assert "CA01" in text
    assert "cloud 10 % / legacy 90 % -> cloud 50 % / legacy 50 %" in text
    assert "40 % of customers legacy -> cloud" in text


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"split": {"cloud": 10, "legacy": 80}}, "sum to 90"),
        ({"split": {"cloud": 100}}, "at least two backends"),
        ({"split": {"cloud": 10, "legacy": 90}, "backend": "cloud"}, "both 'backend' and 'split'"),
        ({"split": {"cloud": 10.001, "legacy": 89.999}}, "multiple of 0.01"),
    ],
)
def test_a_split_that_is_no_whole_is_refused(rule: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RouteRule.model_validate({"id": "bad", **rule})
    assert says in str(refused.value)


def test_a_new_customers_id_carries_the_bucket_its_creation_was_routed_by() -> None:
    for ref in (f"CRM-ACC-{i}" for i in range(200)):
        customer_id = new_customer_id(ref)
        assert kind_of_id(customer_id) is Kind.CUSTOMER
        assert split_bucket(customer_id) == split_bucket(None, ref) == bucket_of(ref)


def test_a_customer_whose_id_carries_no_bucket_keeps_the_hash_of_its_id() -> None:
    before = new_gateway_id(Kind.CUSTOMER)  # as customers were made before ids carried one
    assert split_bucket(before) == bucket_of(before)


def test_explain_gives_a_new_customer_and_its_orders_the_same_share() -> None:
    table = compile_routes(routes_with(canary(50)))
    at = dt.datetime.now(dt.UTC)
    for ref in (f"CRM-ACC-{i}" for i in range(50)):
        created = explain(table, "customers.create", "CA01", external_ref=ref, at=at)
        ordered = explain(
            table, "sales_orders.create", "CA01", customer_id=new_customer_id(ref), at=at
        )
        assert created.decision.backend == ordered.decision.backend

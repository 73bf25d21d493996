"""Rules in time: waves that take effect at their second, windows that end, freezes that refuse
writes for a while. The time is given to `decide`, never waited for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.config.routes import RoutesConfig
from gateway.domain.operations import ALL_OPERATIONS, WRITE_OPERATIONS
from gateway.routing.explain import explain
from gateway.routing.rules import RoutingTable, compile_routes
from tests.unit.test_routing import LEGAL_ENTITIES

WAVE = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)
T = WAVE.timestamp()
FREEZE = {
    "id": "ca01-cutover",
    "legal_entities": ["CA01"],
    "from": "2026-12-01T05:45:00Z",
    "until": "2026-12-01T06:00:00Z",
    "reason": "CA01 is moving to the cloud ERP",
}


def table(*rules: dict[str, Any], freezes: tuple[dict[str, Any], ...] = ()) -> RoutingTable:
    return compile_routes(
        RoutesConfig.model_validate(
            {
                "legal_entities": LEGAL_ENTITIES,
                "rules": list(rules),
                "default_backend": "legacy",
                "freezes": list(freezes),
            }
        )
    )


def wave(**window: str) -> dict[str, Any]:
    return {"id": "ca01-wave", "match": {"legal_entities": ["CA01"]}, "backend": "cloud", **window}


def test_a_wave_takes_effect_at_its_second_and_not_a_moment_before() -> None:
    routes = table(wave(effective_from="2026-12-01T06:00:00Z"))
    before = routes.decide("sales_orders.create", "CA01", T - 0.001)
    at = routes.decide("sales_orders.create", "CA01", T)
    assert (before.backend, before.rule_id) == ("legacy", "default")
    assert (at.backend, at.rule_id) == ("cloud", "ca01-wave")
    assert before.until == T  # the decision says when it changes
    assert at.until is None
    assert "from 2026-12-01T06:00:00Z" in at.reason


def test_a_window_that_ends_sends_new_requests_back() -> None:
    routes = table(
        wave(effective_from="2026-12-01T06:00:00Z", effective_until="2026-12-02T06:00:00+00:00")
    )
    end = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC).timestamp()
    assert routes.decide("customers.create", "CA01", end - 1).backend == "cloud"
    assert routes.decide("customers.create", "CA01", end).backend == "legacy"
    assert routes.decide("customers.create", "CA01", end - 1).until == end


def test_a_rule_with_only_an_end_holds_until_it() -> None:
    routes = table(wave(effective_until="2026-12-01T06:00:00+01:00"))  # 05:00Z
    assert routes.decide("customers.read", "CA01", T - 3601).backend == "cloud"
    assert routes.decide("customers.read", "CA01", T - 3600).backend == "legacy"


def test_an_earlier_rule_out_of_its_window_lets_a_later_one_decide() -> None:
    routes = table(
        wave(effective_from="2026-12-01T06:00:00Z"),
        {"id": "na", "match": {"regions": ["NA"]}, "backend": "legacy"},
    )
    assert routes.decide("sales_orders.create", "CA01", T - 1).rule_id == "na"
    assert routes.decide("sales_orders.create", "CA01", T).rule_id == "ca01-wave"


def test_other_legal_entities_are_untouched_by_a_wave() -> None:
    routes = table(wave(effective_from="2026-12-01T06:00:00Z"))
    for moment in (T - 1, T, T + 86400):
        assert routes.decide("sales_orders.create", "DE01", moment).backend == "legacy"


def test_a_freeze_refuses_writes_in_its_window_and_never_reads() -> None:
    routes = table(freezes=(FREEZE,))
    start = T - 900
    for operation in ALL_OPERATIONS:
        frozen = routes.frozen(operation, "CA01", start)
        if operation in WRITE_OPERATIONS:
            assert frozen is not None and frozen.id == "ca01-cutover", operation
        else:
            assert frozen is None, operation
    assert routes.frozen("sales_orders.create", "CA01", start - 0.001) is None
    assert routes.frozen("sales_orders.create", "CA01", T) is None  # until is exclusive
    assert routes.frozen("sales_orders.create", "DE01", start) is None


def test_a_freeze_says_how_long_to_wait_in_whole_seconds_and_at_least_one() -> None:
    freeze = table(freezes=(FREEZE,)).frozen("sales_orders.create", "CA01", T - 600)
    assert freeze is not None
    assert freeze.retry_after_s(T - 600) == 600
    assert freeze.retry_after_s(T - 10.2) == 11
    assert freeze.retry_after_s(T - 0.001) == 1


def test_retry_after_counts_to_the_end_of_the_freezes_that_carry_on_from_one() -> None:
    """A freeze that overlaps another, or starts as it ends, keeps the writes frozen: a client
    told to come back when the first ends would only be refused again."""
    overlapping = {**FREEZE, "id": "ca01-checks", "from": "2026-12-01T05:55:00Z",
                   "until": "2026-12-01T06:10:00Z"}  # fmt: skip
    following = {**FREEZE, "id": "ca01-signoff", "from": "2026-12-01T06:10:00Z",
                 "until": "2026-12-01T06:20:00Z"}  # fmt: skip
    later = {**FREEZE, "id": "ca01-later", "from": "2026-12-01T06:30:00Z",
             "until": "2026-12-01T06:40:00Z"}  # fmt: skip
    reads_only = {**FREEZE, "id": "other-ops", "operations": ["customers.create"],
                  "from": "2026-12-01T06:20:00Z", "until": "2026-12-01T07:00:00Z"}  # fmt: skip
    routes = table(freezes=(FREEZE, overlapping, following, later, reads_only))
    at = T - 600  # 05:50, in the first freeze only
    freeze = routes.frozen("sales_orders.create", "CA01", at)
    assert freeze is not None and freeze.id == "ca01-cutover"
    thaws = routes.thaws("sales_orders.create", "CA01", at)
    assert thaws == T + 1200  # 06:20: the gap before ca01-later ends the run
    assert freeze.retry_after_s(at, thaws) == 1800
    # customers.create is carried on to 07:00 by a freeze of its own
    assert routes.thaws("customers.create", "CA01", at) == T + 3600
    assert routes.thaws("sales_orders.create", "CA01", T + 1200) is None  # thawed
    assert routes.thaws("sales_orders.create", "CA01", T + 1900) == T + 2400
    explained = explain(
        routes, "sales_orders.create", "CA01", at=dt.datetime.fromtimestamp(at, dt.UTC)
    )
    assert "Thaws:    2026-12-01T06:20:00Z" in explained.text()
    assert explained.as_dict()["frozen"]["thaws"] == "2026-12-01T06:20:00Z"


def test_a_freeze_may_name_its_operations_by_glob_even_a_quote() -> None:
    routes = table(freezes=({**FREEZE, "operations": ["sales_orders.*", "quotes.validate"]},))
    start = T - 900
    assert routes.frozen("quotes.validate", "CA01", start) is not None
    assert routes.frozen("sales_orders.cancel", "CA01", start) is not None
    assert routes.frozen("customers.create", "CA01", start) is None


@pytest.mark.parametrize(
    ("glob", "frozen"),
    [
        ("*", {*WRITE_OPERATIONS, "quotes.validate"}),
        ("sales_orders.*", {"sales_orders.create", "sales_orders.cancel"}),
        ("customers.read", set()),
    ],
)
def test_a_freeze_glob_that_covers_reads_freezes_only_the_writes(
    glob: str, frozen: set[str]
) -> None:
    routes = table(freezes=({**FREEZE, "operations": [glob]},))
    refused = {op for op in ALL_OPERATIONS if routes.frozen(op, "CA01", T - 900) is not None}
    assert refused == frozen


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            {"effective_from": "2026-12-01T06:00:00Z", "effective_until": "2026-12-01T06:00:00Z"},
            "after",
        ),
        ({"effective_from": "2026-12-01T06:00:00"}, "with an offset"),
    ],
)
def test_a_window_must_be_in_order_and_carry_an_offset(
    window: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        table(wave(**window))


def test_the_table_has_one_period_per_span_between_instants() -> None:
    routes = table(
        wave(effective_from="2026-12-01T06:00:00Z", effective_until="2026-12-02T06:00:00Z"),
        freezes=(FREEZE,),
    )
    # 05:45, 06:00 (freeze end and wave start), 06:00 next day: four periods.
    assert len(routes.periods) == 4
    assert routes.periods[0].window.starts is None and routes.periods[-1].window.ends is None


def test_explain_names_the_window_and_why_a_rule_does_not_match_yet() -> None:
    routes = table(wave(effective_from="2026-12-01T06:00:00Z"), freezes=(FREEZE,))
    before = explain(routes, "sales_orders.create", "CA01", at=WAVE - dt.timedelta(minutes=10))
    text = before.text()
    assert "1. ca01-wave -> cloud [from 2026-12-01T06:00:00Z]: no match" in text
    assert "the time is not within its window (from 2026-12-01T06:00:00Z)" in text
    assert "Decision: legacy" in text
    assert "Until:    2026-12-01T06:00:00Z" in text
    assert "Frozen:   by ca01-cutover" in text and "CA01 is moving to the cloud ERP" in text
    after = explain(routes, "sales_orders.create", "CA01", at=WAVE).text()
    assert "1. ca01-wave -> cloud [from 2026-12-01T06:00:00Z]: MATCH" in after
    assert "Frozen" not in after


def test_a_decision_holds_until_its_own_rules_change_not_another_entitys_wave_or_a_freeze() -> None:
    routes = table(wave(effective_from="2026-12-01T06:00:00Z"), freezes=(FREEZE,))
    day_before = T - 86400
    assert routes.decide("sales_orders.create", "DE01", day_before).until is None
    assert routes.decide("sales_orders.create", "CA01", day_before).until == T  # not 05:45
    unmoved = explain(routes, "sales_orders.create", "DE01", at=WAVE - dt.timedelta(days=1))
    assert "Until:" not in unmoved.text()
    assert unmoved.as_dict()["decision"]["until"] is None
    moving = explain(routes, "sales_orders.create", "CA01", at=WAVE - dt.timedelta(days=1))
    assert "Until:    2026-12-01T06:00:00Z (the rules change then)" in moving.text()


def test_a_split_holds_until_its_own_rules_change() -> None:
    canary = {"id": "canary", "match": {"legal_entities": ["DE01"]},
              "split": {"cloud": 10, "legacy": 90}}  # fmt: skip
    routes = table(canary, wave(effective_from="2026-12-01T06:00:00Z"))
    assert routes.decide("sales_orders.create", "DE01", T - 1, 1).until is None
    assert routes.decide("sales_orders.create", "DE01", T - 1).until is None

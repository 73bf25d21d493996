"""The shadow comparison: dotted paths, ignore globs, numeric tolerance, redaction."""

from __future__ import annotations

from gateway.routing.shadow_compare import (
    ABSENT,
    CompareRules,
    differences,
    field_of,
    redacted,
    shown,
)


def _order(**changes: object) -> dict[str, object]:
    order: dict[str, object] = {
        "id": "so_1",
        "status": "accepted",
        "erp_reference": "4711",
        "currency": "EUR",
        "items": [
            {"product_id": "WIDGET-1", "quantity": 3, "price": {"amount": "19.99"}},
            {"product_id": "GADGET-2", "quantity": 1, "price": {"amount": "149.00"}},
        ],
        "net_amount": {"amount": "208.97", "currency": "EUR"},
        "warnings": [{"message": "m", "erp_message": "SAP says so"}],
    }
    order.update(changes)
    return order


def test_identical_answers_have_no_differences() -> None:
    assert differences(_order(), _order()) == []


def test_a_differing_leaf_is_named_by_its_dotted_path_with_both_values() -> None:
    shadow = _order(net_amount={"amount": "209.97", "currency": "EUR"})
    [difference] = differences(_order(), shadow)
    assert (difference.path, difference.primary, difference.shadow) == (
        "net_amount.amount",
        "208.97",
        "209.97",
    )


def test_list_items_are_compared_by_position() -> None:
    shadow = _order()
    shadow["items"] = [dict(i) for i in shadow["items"]]  # type: ignore[attr-defined]
    shadow["items"][1]["quantity"] = 2  # type: ignore[index]
    assert [d.path for d in differences(_order(), shadow)] == ["items.1.quantity"]


def test_a_field_present_on_one_side_only_differs_as_absent() -> None:
    shadow = _order()
    del shadow["currency"]
    [difference] = differences(_order(), shadow)
    assert difference.path == "currency" and difference.shadow is ABSENT


def test_an_empty_list_differs_from_a_list_with_items() -> None:
    found = differences(_order(warnings=[]), _order())
    assert [d.path for d in found] == ["warnings", "warnings.0.message"]


def test_ignore_globs_drop_the_field_and_everything_under_it() -> None:
    shadow = _order(status="on_hold", net_amount={"amount": "1", "currency": "USD"})
    rules = CompareRules(ignore=("status", "net_amount"))
    assert differences(_order(), shadow, rules) == []
    only_currency = CompareRules(ignore=("*.currency",))
    assert [d.path for d in differences(_order(), shadow, only_currency)] == [
        "net_amount.amount",
        "status",
    ]


def test_ignore_globs_match_list_positions() -> None:
    shadow = _order()
    shadow["items"] = [{**i, "quantity": 9} for i in shadow["items"]]  # type: ignore[attr-defined]
    assert differences(_order(), shadow, CompareRules(ignore=("items.*.quantity",))) == []
    assert len(differences(_order(), shadow)) == 2


def test_erp_references_and_erp_messages_are_never_findings() -> None:
    shadow = _order(erp_reference="SO-99", warnings=[{"message": "m", "erp_message": "NS"}])
    assert differences(_order(), shadow) == []


def test_absolute_tolerance_accepts_drift_up_to_its_bound_and_not_beyond() -> None:
    rules = CompareRules(absolute=0.01)
    near = _order(net_amount={"amount": "208.98", "currency": "EUR"})
    far = _order(net_amount={"amount": "208.99", "currency": "EUR"})
    assert differences(_order(), near, rules) == []
    assert [d.path for d in differences(_order(), far, rules)] == ["net_amount.amount"]


def test_relative_tolerance_scales_with_the_amount() -> None:
    rules = CompareRules(relative=0.001)  # 0.1 %
    big = ({"total_amount": "100000.00"}, {"total_amount": "100090.00"})
    small = ({"total_amount": "10.00"}, {"total_amount": "10.09"})
    assert differences(*big, rules) == []
    assert [d.path for d in differences(*small, rules)] == ["total_amount"]


def test_tolerance_applies_only_to_the_fields_it_names() -> None:
    rules = CompareRules(absolute=1, tolerance_fields=("net_amount.*",))
    shadow = _order(net_amount={"amount": "209.50", "currency": "EUR"})
    shadow["items"] = [{**i, "quantity": 4} for i in shadow["items"]]  # type: ignore[attr-defined]
    assert [d.path for d in differences(_order(), shadow, rules)] == [
        "items.0.quantity",
        "items.1.quantity",
    ]


def test_a_tolerance_field_glob_covers_what_is_under_it_as_ignore_globs_do() -> None:
    # `fields: [net_amount]` names a Money object: its amount is what drifts
    rules = CompareRules(absolute=0.01, tolerance_fields=("net_amount", "items.*.price"))
    ours = {"net_amount": {"amount": "10.00"}, "items": [{"price": {"amount": "1.00"}}]}
    theirs = {"net_amount": {"amount": "10.01"}, "items": [{"price": {"amount": "1.01"}}]}
    assert differences(ours, theirs, rules) == []


def test_tolerance_never_makes_text_or_a_number_against_text_equal() -> None:
    rules = CompareRules(absolute=1000)
    assert len(differences({"a": "EUR"}, {"a": "USD"}, rules)) == 1
    assert len(differences({"a": "12"}, {"a": "twelve"}, rules)) == 1
    assert len(differences({"a": True}, {"a": 1}, rules)) == 1


def _customer(postal_code: str, credit_limit: str = "50000.00") -> dict[str, object]:
    return {
        "legal_name": "Kunde GmbH",
        "credit_limit": credit_limit,
        "addresses": [{"type": "billing", "city": "Dresden", "postal_code": postal_code}],
    }


def test_a_postal_code_that_lost_its_leading_zero_is_a_difference() -> None:
    # the classic mapping bug: an ERP that keeps the postal code as a number
    found = differences(_customer("01067"), _customer("1067"))
    assert [d.path for d in found] == ["addresses.0.postal_code"]


def test_an_amount_tolerance_never_makes_two_postal_codes_equal() -> None:
    rules = CompareRules(relative=0.001)  # meant for the rounding of amounts; fields: all
    found = differences(_customer("10115"), _customer("10117"), rules)
    assert [d.path for d in found] == ["addresses.0.postal_code"]


def test_decimal_amounts_of_the_schema_still_compare_as_numbers() -> None:
    assert differences(_customer("10115", "50000.00"), _customer("10115", "50000.0")) == []
    decision = {"items": [{"price": "19.99"}], "net_amount": "19.99"}
    drifted = {"items": [{"price": "19.990"}], "net_amount": "19.990"}
    assert differences(decision, drifted) == []


def test_field_of_folds_list_positions() -> None:
    assert field_of("items.3.price.amount") == "items.*.price.amount"
    assert field_of("status") == "status"


def test_redaction_keeps_only_the_type_and_length() -> None:
    assert redacted("ACME GmbH") == "string(9)"
    assert redacted(12.5) == "number"
    assert redacted(None) == "null"
    assert redacted(ABSENT) == "absent"
    assert redacted([1, 2]) == "array(2)"
    assert shown("ACME GmbH", reveal=False) == "string(9)"
    assert shown("ACME GmbH", reveal=True) == "ACME GmbH"

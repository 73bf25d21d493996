"""The OData v2 format: literals, dates, envelopes; malformed answers are unreadable."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.adapters.sap.inbound import (
    sales_order_from_sap,
    shipment_from_sap,
)
from gateway.adapters.sap.odata import (
    SapAnswerError,
    date_of,
    entity_of,
    entity_path,
    equals_filter,
    odata_date,
    results_of,
)
from tests.unit.adapters.sap.samples import MAPS, delivery_entity, so_entity


def test_keys_and_filters_are_odata_string_literals_with_quotes_doubled() -> None:
    assert entity_path("/x/A_SalesOrder", SalesOrder="1") == "/x/A_SalesOrder('1')"
    assert (
        entity_path("/x/A_SalesOrderItem", SalesOrder="1", SalesOrderItem="10")
        == "/x/A_SalesOrderItem(SalesOrder='1',SalesOrderItem='10')"
    )
    assert equals_filter("PurchaseOrderByCustomer", "O'Brien") == (
        "PurchaseOrderByCustomer eq 'O''Brien'"
    )


def test_dates_round_trip_through_edm_datetime() -> None:
    day = dt.date(2026, 2, 28)
    assert date_of(odata_date(day)) == day
    assert date_of("/Date(1797292800000+0000)/") == dt.date(2026, 12, 15)
    assert date_of(None) is None
    with pytest.raises(SapAnswerError):
        date_of("2026-12-15")


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"d": None},
        {"d": {"results": []}},
        {"error": {}},
    ],
)
def test_an_answer_without_an_entity_envelope_is_unreadable(body: Any) -> None:
    with pytest.raises(SapAnswerError):
        entity_of(body)


def test_an_answer_without_a_collection_is_unreadable_and_a_bad_amount_too() -> None:
    assert results_of({"d": {"results": [{"a": 1}]}}) == [{"a": 1}]
    with pytest.raises(SapAnswerError):
        results_of({"d": {"SalesOrder": "1"}})
    with pytest.raises(SapAnswerError):
        sales_order_from_sap(so_entity(TotalNetAmount=208.97), MAPS)  # a float, not Edm.Decimal


@pytest.mark.parametrize("quantity", ["1E+999999999", "NaN", "-Infinity"])
def test_a_quantity_no_sales_document_can_hold_is_unreadable_at_once(quantity: str) -> None:
    item = {**so_entity()["to_Item"]["results"][0], "RequestedQuantity": quantity}
    with pytest.raises(SapAnswerError):
        sales_order_from_sap(so_entity(to_Item={"results": [item]}), MAPS)


@pytest.mark.parametrize("quantity", ["2.500", "0.001"])
def test_a_fractional_quantity_is_unreadable_not_cut_to_a_whole_one(quantity: str) -> None:
    item = {**so_entity()["to_Item"]["results"][0], "RequestedQuantity": quantity}
    with pytest.raises(SapAnswerError):
        sales_order_from_sap(so_entity(to_Item={"results": [item]}), MAPS)
    delivered = {**delivery_entity()["to_DeliveryDocumentItem"]["results"][0]}
    delivered["ActualDeliveryQuantity"] = quantity
    with pytest.raises(SapAnswerError):
        shipment_from_sap(delivery_entity(to_DeliveryDocumentItem={"results": [delivered]}), MAPS)


def test_a_whole_quantity_with_sap_decimals_reads_as_a_whole_number() -> None:
    item = {**so_entity()["to_Item"]["results"][0], "RequestedQuantity": "3.000"}
    line = sales_order_from_sap(so_entity(to_Item={"results": [item]}), MAPS).lines[0]
    assert (line.quantity, type(line.quantity)) == (3, int)

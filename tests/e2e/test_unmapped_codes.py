"""Codes a backend's value maps lack, end to end over the simulators: refused before anything
reaches the ERP, as a business problem in the same words whichever ERP holds the legal entity.
A code that is no currency at all is the client's mistake: refused by the gateway's validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e import payloads
from tests.e2e.checks import assert_business_problem, create_customer, stats
from tests.e2e.test_versions import v2_order

NO_CURRENCY = "XYZ is no currency: a currency is an ISO 4217 code, such as USD, EUR or JPY."


def test_a_currency_the_cloud_erps_maps_lack_is_refused_and_nothing_reaches_it(
    api: httpx.Client, cloud: httpx.Client
) -> None:
    customer = create_customer(api, "US01")  # US01 is on the cloud ERP
    order = payloads.order("US01", customer["id"], currency="CHF")
    before = stats(cloud)["requests"]

    refusals = [
        api.post("/v1/customers", json=payloads.customer("US01", currency="CHF")),
        api.post("/v1/sales-orders", json=order, headers=payloads.new_key()),
    ]

    for refused in refusals:
        assert_business_problem(refused, "erp_rejected", "/currency")
        assert refused.json()["detail"] == "Currency CHF is not set up in the ERP."
    assert stats(cloud)["requests"] == before


def test_an_unknown_sku_is_refused_unsent_in_the_same_words_by_either_erp(
    api: httpx.Client, legacy: httpx.Client, cloud: httpx.Client
) -> None:
    said: list[tuple[Any, Any]] = []
    for legal_entity, erp in (("DE01", legacy), ("US01", cloud)):
        customer = create_customer(api, legal_entity)
        lines = [{"sku": "NOPE-1", "quantity": 1, "unit_price": "1.00"}]
        before = stats(erp)["requests"]

        refused = api.post(
            "/v1/sales-orders",
            json=payloads.order(legal_entity, customer["id"], lines=lines),
            headers=payloads.new_key(),
        )

        assert_business_problem(refused, "unknown_sku", "/lines/0/sku")
        assert stats(erp)["requests"] == before
        said.append((refused.json()["detail"], refused.json()["errors"]))
    assert said[0] == said[1]


@pytest.mark.parametrize("currency", ["CHF", "SEK"])
def test_a_currency_the_legacy_erp_does_not_define_is_refused_in_the_same_words_as_the_cloud(
    api: httpx.Client, legacy: httpx.Client, currency: str
) -> None:
    customer = create_customer(api, "DE01")  # DE01 is on the legacy ERP, which trades in EUR
    order = payloads.order("DE01", customer["id"], currency=currency)
    before = stats(legacy)

    quote = {k: v for k, v in order.items() if k != "external_ref"}
    refusals = [
        api.post("/v1/customers", json=payloads.customer("DE01", currency=currency)),
        api.post("/v1/sales-orders", json=order, headers=payloads.new_key()),
        api.post("/v1/quotes/validate", json=quote),
    ]

    for refused in refusals:
        assert_business_problem(refused, "erp_rejected", "/currency")
        # As the cloud ERP's unmapped currency is refused: never naming the ERP nor SAP's table.
        assert refused.json()["detail"] == f"Currency {currency} is not set up in the ERP."
        assert [e["detail"] for e in refused.json()["errors"]] == [refused.json()["detail"]]
    after = stats(legacy)
    assert (after["customers"], after["sales_orders"]) == (
        before["customers"],
        before["sales_orders"],
    )


@pytest.mark.parametrize(("legal_entity", "erp_name"), [("DE01", "legacy"), ("US01", "cloud")])
def test_a_code_that_is_no_iso_currency_is_a_validation_problem_and_nothing_reaches_the_erp(
    api: httpx.Client, legacy: httpx.Client, cloud: httpx.Client, legal_entity: str, erp_name: str
) -> None:
    erp = {"legacy": legacy, "cloud": cloud}[erp_name]
    customer = create_customer(api, legal_entity)
    order = payloads.order(legal_entity, customer["id"], currency="XYZ")
    quote = {k: v for k, v in order.items() if k != "external_ref"}
    v2 = v2_order(legal_entity, customer["id"])
    v2["items"][0]["price"]["currency"] = "XYZ"
    before = stats(erp)["requests"]

    refusals = [
        (
            api.post("/v1/customers", json=payloads.customer(legal_entity, currency="XYZ")),
            "/currency",
        ),
        (api.post("/v1/sales-orders", json=order, headers=payloads.new_key()), "/currency"),
        (api.post("/v1/quotes/validate", json=quote), "/currency"),
        (
            api.post("/v2/sales-orders", json=v2, headers=payloads.new_key()),
            "/items/0/price/currency",
        ),
    ]

    for refused, pointer in refusals:
        assert refused.status_code == 400, refused.text
        problem = refused.json()
        assert (problem["category"], problem["code"]) == ("validation", "validation_failed")
        assert problem["errors"] == [{"pointer": pointer, "detail": NO_CURRENCY}]
    assert stats(erp)["requests"] == before

"""Currencies without two decimals, end to end: a yen order and a Kuwaiti dinar order on each
ERP simulator, through `gateway serve`, read back in each currency's minor unit (ISO 4217: none
for JPY, three for KWD) as the ERP holds them.

The e2e config with four legal entities more: JP01 and KW01 on the legacy ERP (SAP keeps KWD
to three decimals), JP02 and KW02 on the cloud ERP (NetSuite keeps a currency to none or two
decimals: KWD to two, so a line whose amount is in fils is refused before NetSuite rounds it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.configs import write_config
from tests.e2e import payloads
from tests.e2e.gateways import client_for, start_gateway, token_for

LEGAL_ENTITIES = """\
  JP01: {name: "Acme Japan K.K.", region: APAC, country: JP, currency: JPY}
  KW01: {name: "Acme Kuwait W.L.L.", region: EMEA, country: KW, currency: KWD}
  JP02: {name: "Acme Japan Cloud K.K.", region: APAC, country: JP, currency: JPY}
  KW02: {name: "Acme Kuwait Cloud W.L.L.", region: EMEA, country: KW, currency: KWD}
"""
CLOUD_RULE = """  - id: jp02-kw02-cloud
    match: {legal_entities: [JP02, KW02]}
    backend: cloud
"""
# The simulators' company codes and subsidiaries for Japan and Kuwait.
LEGACY_MAPS = """\
    JP01: {company_code: "2910", sales_organization: "2910"}
    KW01: {company_code: "4610", sales_organization: "4610"}
"""
CLOUD_MAPS = """\
    JP02: {subsidiary: "8", currency: "6"}
    KW02: {subsidiary: "9", currency: "7"}
"""
CLOUD_CURRENCIES = """\
    JPY: "6"
    KWD: "7"
"""
ADDRESSES = {
    "JP": {"line1": "1-1 Marunouchi", "city": "Tokyo", "postal_code": "100-0005", "country": "JP"},
    "KW": {
        "line1": "Block 3, Street 1",
        "city": "Kuwait City",
        "postal_code": "13001",
        "country": "KW",
    },
}
# Each ERP's price list in the currency: whole yen; dinars with fils (a third decimal).
PRICES = {
    "JPY": {"WIDGET-1": "3000", "GADGET-2": "22000"},
    "KWD": {"WIDGET-1": "6.125", "GADGET-2": "45.750"},
}


def _inserted(text: str, key: str, lines: str) -> str:
    """`text` with `lines` right after the first line that opens `key` (its indent included)."""
    found = re.search(rf"(?m)^{re.escape(key)}:.*\n", text)
    assert found, f"no key {key!r} to insert under"
    return text[: found.end()] + lines + text[found.end() :]


@pytest.fixture(scope="module")
def currency_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = write_config(tmp_path_factory.mktemp("currency-config"))
    routes = target / "routes.yaml"
    text = _inserted(routes.read_text(), "legal_entities", LEGAL_ENTITIES)
    routes.write_text(_inserted(text, "rules", CLOUD_RULE))
    legacy = target / "backends" / "legacy.yaml"
    legacy.write_text(_inserted(legacy.read_text(), "  legal_entities", LEGACY_MAPS))
    cloud = target / "backends" / "cloud.yaml"
    text = _inserted(cloud.read_text(), "  legal_entities", CLOUD_MAPS)
    cloud.write_text(_inserted(text, "  currencies", CLOUD_CURRENCIES))
    return target


@pytest.fixture(scope="module")
def currency_api(gateway_env: dict[str, str], currency_config_dir: Path) -> Iterator[httpx.Client]:
    config = str(currency_config_dir)
    token = token_for("crm-demo", currency_config_dir)
    with (
        start_gateway(gateway_env, GATEWAY_CONFIG_DIR=config) as (url, _),
        client_for(url, token) as client,
    ):
        yield client


def _customer(api: httpx.Client, legal_entity: str, currency: str) -> str:
    body = payloads.customer(
        "US01",
        currency=currency,
        credit_limit="10000000" if currency == "JPY" else "50000",
        address=ADDRESSES[legal_entity[:2]],
    )
    body["legal_entity"] = legal_entity
    del body["tax_id"]  # neither country is in the EU
    customer = api.post("/v1/customers", json=body)
    assert customer.status_code == 201, customer.text
    customer_id: str = customer.json()["id"]
    return customer_id


def _order_body(
    legal_entity: str, currency: str, customer_id: str, widgets: int = 3
) -> dict[str, Any]:
    prices = PRICES[currency]
    return payloads.order(
        "US01",
        customer_id,
        currency=currency,
        lines=[
            {"sku": "WIDGET-1", "quantity": widgets, "unit_price": prices["WIDGET-1"]},
            {"sku": "GADGET-2", "quantity": 1, "unit_price": prices["GADGET-2"]},
        ],
    ) | {"legal_entity": legal_entity}


def _order(api: httpx.Client, legal_entity: str, currency: str, widgets: int = 3) -> dict[str, Any]:
    customer_id = _customer(api, legal_entity, currency)
    created = api.post(
        "/v1/sales-orders",
        json=_order_body(legal_entity, currency, customer_id, widgets),
        headers=payloads.new_key(),
    )
    assert created.status_code == 201, created.text
    read = api.get(f"/v1/sales-orders/{created.json()['id']}")
    assert read.status_code == 200, read.text
    assert read.json()["lines"] == created.json()["lines"]
    order: dict[str, Any] = read.json()
    return order


def _amounts(order: dict[str, Any]) -> tuple[Any, ...]:
    lines = tuple((ln["unit_price"], ln["amount"]) for ln in order["lines"])
    return (
        order["status"],
        *lines,
        order["net_amount"],
        order["tax_amount"],
        order["total_amount"],
    )


@pytest.mark.parametrize("legal_entity", ["JP01", "JP02"])
def test_a_yen_order_reads_back_in_whole_yen_from_either_erp(
    currency_api: httpx.Client, legal_entity: str
) -> None:
    order = _order(currency_api, legal_entity, "JPY")

    # Japan's consumption tax: 10 %.
    assert _amounts(order) == (
        "accepted",
        ("3000", "9000"),
        ("22000", "22000"),
        "31000",
        "3100",
        "34100",
    )


def test_a_dinar_order_reads_back_in_fils_from_the_legacy_erp(currency_api: httpx.Client) -> None:
    order = _order(currency_api, "KW01", "KWD")

    # Kuwait levies no VAT: no tax, written in fils.
    assert _amounts(order) == (
        "accepted",
        ("6.125", "18.375"),
        ("45.750", "45.750"),
        "64.125",
        "0.000",
        "64.125",
    )


@pytest.mark.parametrize("path", ["/v1/sales-orders", "/v1/quotes/validate"])
def test_a_dinar_line_the_cloud_erp_would_round_to_two_decimals_is_refused_unsent(
    currency_api: httpx.Client, cloud: httpx.Client, path: str
) -> None:
    customer_id = _customer(currency_api, "KW02", "KWD")
    before = cloud.get("/_sim/stats").json()

    body = _order_body("KW02", "KWD", customer_id)
    if path == "/v1/quotes/validate":
        del body["external_ref"]  # a quote creates nothing to refer to

    # NetSuite keeps the dinar to two decimals: 3 x 6.125 = 18.375 would be stored as 18.38.
    refused = currency_api.post(path, json=body, headers=payloads.new_key())

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert (problem["category"], problem["code"]) == ("business", "erp_rejected")
    assert "The ERP keeps KWD to 2 decimals" in problem["detail"]
    assert [e["pointer"] for e in problem["errors"]] == ["/lines/0/unit_price"]
    assert "18.375" in problem["errors"][0]["detail"]
    after = cloud.get("/_sim/stats").json()
    assert (after["sales_orders"], after["requests"]) == (
        before["sales_orders"],
        before["requests"],
    )


def test_a_dinar_order_whose_lines_come_out_in_hundredths_reads_back_as_sent_from_the_cloud_erp(
    currency_api: httpx.Client,
) -> None:
    order = _order(currency_api, "KW02", "KWD", widgets=2)

    assert _amounts(order) == (
        "accepted",
        ("6.125", "12.250"),
        ("45.750", "45.750"),
        "58.000",
        "0.000",
        "58.000",
    )

"""The legacy ERP simulator's own mechanics over real HTTP: logon, CSRF, OData, ETags, control."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pyodata.v2.model as pyodata_model
import pytest

from erp_simulators.sap import Release, SimOptions, create_app
from tests.servers import PYTHON, free_port, run_process, serve_app

AUTH = ("GATEWAY_SVC", "legacy-sim-secret")
ODATA = "/sap/opu/odata/sap"
BP = ODATA + "/API_BUSINESS_PARTNER/A_BusinessPartner"
SO = ODATA + "/API_SALES_ORDER_SRV/A_SalesOrder"
SO_ROOT = ODATA + "/API_SALES_ORDER_SRV/"
SIMULATION = ODATA + "/API_SALES_ORDER_SIMULATION_SRV/A_SalesOrderSimulation"
DELIVERY_ITEMS = ODATA + "/API_OUTBOUND_DELIVERY_SRV/A_OutbDeliveryItem"
BILLING = ODATA + "/API_BILLING_DOCUMENT_SRV/A_BillingDocument"
BILLING_ITEMS = ODATA + "/API_BILLING_DOCUMENT_SRV/A_BillingDocumentItem"
COUNTRY_OF = {"1010": "DE", "1510": "FR", "1710": "US", "1410": "GB"}
CURRENCY_OF = {"1010": "EUR", "1510": "EUR", "1710": "USD", "1410": "GBP"}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_app(create_app()) as base:
        yield base


@pytest.fixture
def erp(url: str) -> Iterator[httpx.Client]:
    """A logged-on client holding a CSRF session (httpx keeps the session cookie)."""
    with httpx.Client(base_url=url, auth=AUTH, timeout=5) as client:
        fetched = client.get(SO_ROOT, headers={"X-CSRF-Token": "Fetch"})
        client.headers["x-csrf-token"] = fetched.headers["x-csrf-token"]
        yield client
        client.delete("/_sim/faults")


def bp_payload(company_code: str = "1010", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "BusinessPartnerCategory": "2",
        "OrganizationBPName1": "Acme Corp",
        "BusinessPartnerIDByExtSystem": "CRM-ACC-1",
        "YY1_GatewayRef_SDH": "gw-" + uuid.uuid4().hex[:26],
        "YY1_CreditLimit_bus": "50000.00",
        "to_BusinessPartnerRole": [
            {"BusinessPartnerRole": "FLCU00"},
            {"BusinessPartnerRole": "FLCU01"},
        ],
        "to_BusinessPartnerAddress": {
            "results": [
                {
                    "StreetName": "Hauptstr. 5",
                    "CityName": "Berlin",
                    "PostalCode": "10115",
                    "Country": COUNTRY_OF.get(company_code, "DE"),
                    "to_EmailAddress": {"results": [{"EmailAddress": "ap@acme.example"}]},
                }
            ]
        },
        "to_BusinessPartnerTax": {"results": [{"BPTaxType": "DE0", "BPTaxNumber": "DE123456789"}]},
        "to_Customer": {
            "to_CustomerCompany": {
                "results": [{"CompanyCode": company_code, "PaymentTerms": "NT30"}]
            },
            "to_CustomerSalesArea": {
                "results": [
                    {
                        "SalesOrganization": company_code,
                        "DistributionChannel": "10",
                        "Division": "00",
                        "Currency": CURRENCY_OF.get(company_code, "EUR"),
                        "CustomerPaymentTerms": "NT30",
                    }
                ]
            },
        },
    }
    payload.update(overrides)
    return payload


def so_payload(sold_to: str, org: str = "1010", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "SalesOrderType": "OR",
        "SalesOrganization": org,
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": sold_to,
        "PurchaseOrderByCustomer": "CRM-OPP-" + uuid.uuid4().hex[:6],
        "YY1_GatewayRef_SDH": "gw-" + uuid.uuid4().hex[:26],
        "RequestedDeliveryDate": "/Date(1797292800000)/",
        "to_Item": {
            "results": [
                {
                    "SalesOrderItem": "10",
                    "Material": "FG-WIDGET1",
                    "RequestedQuantity": "3",
                    "to_PricingElement": {
                        "results": [{"ConditionType": "EDI1", "ConditionRateValue": "19.99"}]
                    },
                },
                {"SalesOrderItem": "20", "Material": "FG-GADGET2", "RequestedQuantity": "1"},
            ]
        },
    }
    payload.update(overrides)
    return payload


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    entity: dict[str, Any] = response.json()["d"]
    return entity


def customer(erp: httpx.Client, company_code: str = "1010", **overrides: Any) -> str:
    number: str = created(erp.post(BP, json=bp_payload(company_code, **overrides)))[
        "BusinessPartner"
    ]
    return number


def order(erp: httpx.Client, sold_to: str, org: str = "1010", **overrides: Any) -> dict[str, Any]:
    return created(
        erp.post(SO, json=so_payload(sold_to, org, **overrides), params={"$expand": "to_Item"})
    )


def refused(response: httpx.Response, status: int = 400) -> list[tuple[str, str]]:
    """(code, target) of each error message, after checking the SAP envelope (whose details of
    a refusal end with the business exception that carried the messages, as SAP Gateway's do)."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    details = error["innererror"]["errordetails"]
    if status < 500:
        *details, exception = details
        assert exception["code"] == "/IWBEP/CX_MGW_BUSI_EXCEPTION"
    assert error["message"]["lang"] == "en"
    assert (
        error["code"] == details[0]["code"] and error["message"]["value"] == details[0]["message"]
    )
    return [(d["code"], d["target"]) for d in details]


def read_order(erp: httpx.Client, number: str) -> httpx.Response:
    return erp.get(f"{SO}('{number}')", params={"$expand": "to_Item"})


def stats(erp: httpx.Client) -> dict[str, int]:
    body: dict[str, int] = erp.get("/_sim/stats").json()
    return body


# --- logon and CSRF ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "params"),
    [(None, {}), (("GATEWAY_SVC", "wrong"), {}), (AUTH, {"sap-client": "200"})],
)
def test_a_call_without_valid_basic_logon_is_401_with_a_basic_challenge(
    url: str, auth: tuple[str, str] | None, params: dict[str, str]
) -> None:
    response = httpx.get(url + SO, auth=auth, params=params)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="SAP"'


def test_a_token_fetch_hands_out_a_token_bound_to_a_session_cookie(url: str) -> None:
    response = httpx.head(
        url + SO_ROOT, auth=AUTH, headers={"X-CSRF-Token": "Fetch"}, params={"sap-client": "100"}
    )

    assert response.status_code == 200
    assert response.headers["x-csrf-token"] not in ("", "Required")
    assert response.cookies["SAP_SESSIONID_S4H_100"]
    assert response.content == b""


def test_a_write_without_the_token_of_its_own_session_is_403_required(
    url: str, erp: httpx.Client
) -> None:
    token = erp.headers["x-csrf-token"]
    cookie = erp.cookies["SAP_SESSIONID_S4H_100"]
    with httpx.Client(base_url=url, auth=AUTH) as other:
        other.get(SO_ROOT, headers={"X-CSRF-Token": "Fetch"})
        attempts = [
            httpx.post(url + BP, auth=AUTH, json=bp_payload()),  # no token, no cookie
            httpx.post(url + BP, auth=AUTH, json=bp_payload(), headers={"x-csrf-token": token}),
            other.post(BP, json=bp_payload(), headers={"x-csrf-token": token}),  # other session
            httpx.post(
                url + BP,
                auth=AUTH,
                json=bp_payload(),
                headers={"x-csrf-token": "forged"},
                cookies={"SAP_SESSIONID_S4H_100": cookie},
            ),
        ]

    for response in attempts:
        assert response.status_code == 403
        assert response.headers["x-csrf-token"] == "Required"
    created(erp.post(BP, json=bp_payload()))


def test_expired_tokens_are_refused_until_a_new_one_is_fetched(erp: httpx.Client) -> None:
    old = erp.headers["x-csrf-token"]
    erp.post("/_sim/csrf/expire").raise_for_status()

    assert erp.post(BP, json=bp_payload()).status_code == 403
    erp.headers["x-csrf-token"] = erp.get(SO_ROOT, headers={"X-CSRF-Token": "Fetch"}).headers[
        "x-csrf-token"
    ]
    assert erp.headers["x-csrf-token"] != old
    created(erp.post(BP, json=bp_payload()))


def test_a_session_past_its_lifetime_loses_its_token() -> None:
    with (
        serve_app(create_app(session_ttl_s=0.0)) as base,
        httpx.Client(base_url=base, auth=AUTH) as client,
    ):
        token = client.get(SO_ROOT, headers={"X-CSRF-Token": "Fetch"}).headers["x-csrf-token"]
        response = client.post(BP, json=bp_payload(), headers={"x-csrf-token": token})

    assert (response.status_code, response.headers["x-csrf-token"]) == (403, "Required")


# --- business partners ------------------------------------------------------------------------


def test_a_business_partner_is_created_with_a_10_digit_number_and_reads_back_expanded(
    erp: httpx.Client,
) -> None:
    payload = bp_payload()
    number = created(erp.post(BP, json=payload))["BusinessPartner"]

    read = erp.get(
        f"{BP}('{number}')",
        params={
            "$expand": "to_BusinessPartnerTax,to_Customer/to_CustomerCompany",
            "$format": "json",
        },
    )

    assert len(number) == 10 and number.isdigit()
    entity = read.json()["d"]
    assert entity["__metadata"]["type"] == "API_BUSINESS_PARTNER.A_BusinessPartnerType"
    assert entity["__metadata"]["uri"].endswith(f"A_BusinessPartner('{number}')")
    assert (entity["Customer"], entity["YY1_GatewayRef_SDH"]) == (
        number,
        payload["YY1_GatewayRef_SDH"],
    )
    assert entity["YY1_CreditLimit_bus"] == "50000.00"
    assert entity["CreationDate"].startswith("/Date(")
    assert entity["to_BusinessPartnerTax"]["results"][0]["BPTaxNumber"] == "DE123456789"
    assert entity["to_Customer"]["to_CustomerCompany"]["results"][0]["PaymentTerms"] == "NT30"
    assert "__deferred" in entity["to_BusinessPartnerAddress"]


def test_a_partners_name_fields_keep_no_trailing_blanks_and_its_full_name_joins_them(
    erp: httpx.Client,
) -> None:
    payload = bp_payload(
        OrganizationBPName1="Acme Corporation International Holdings ",
        OrganizationBPName2="North America",
    )
    number = created(erp.post(BP, json=payload))["BusinessPartner"]

    entity = erp.get(f"{BP}('{number}')", params={"$format": "json"}).json()["d"]

    assert (entity["OrganizationBPName1"], entity["OrganizationBPName2"]) == (
        "Acme Corporation International Holdings",
        "North America",
    )
    assert entity["BusinessPartnerFullName"] == (
        "Acme Corporation International Holdings North America"
    )


def test_a_partner_keeps_all_four_organization_name_fields_and_its_full_name_joins_two(
    erp: httpx.Client,
) -> None:
    names = {
        "OrganizationBPName1": "International Business Machines",
        "OrganizationBPName2": "Corporation Deutschland Holding GmbH &",
        "OrganizationBPName3": "Co. KG ",
        "OrganizationBPName4": "D" * 40,
    }
    number = created(erp.post(BP, json=bp_payload(**names)))["BusinessPartner"]

    entity = erp.get(f"{BP}('{number}')", params={"$format": "json"}).json()["d"]
    too_long = erp.post(BP, json=bp_payload(OrganizationBPName4="D" * 41))

    assert {field: entity[field] for field in names} == {**names, "OrganizationBPName3": "Co. KG"}
    # SAP's full name (81 characters) is Name 1 and Name 2, as its UIs show a partner
    assert entity["BusinessPartnerFullName"] == (
        "International Business Machines Corporation Deutschland Holding GmbH &"
    )
    assert too_long.status_code == 400
    assert "OrganizationBPName4" in too_long.text


def bad_terms() -> dict[str, Any]:
    payload = bp_payload()
    payload["to_Customer"]["to_CustomerCompany"]["results"][0]["PaymentTerms"] = "NT99"
    return payload


@pytest.mark.parametrize(
    ("payload", "code", "target"),
    [
        (bad_terms(), "CVI_API/011", "/to_Customer/to_CustomerCompany('1010')/PaymentTerms"),
        (
            bp_payload("1510", to_BusinessPartnerTax=[]),
            "CVI_API/012",
            "/to_BusinessPartnerTax/BPTaxNumber",
        ),
        (bp_payload("9999"), "CVI_API/003", "/to_Customer/to_CustomerCompany('9999')/CompanyCode"),
        (
            bp_payload(BusinessPartnerIDByExtSystem="X" * 21),
            "/IWBEP/CM_MGW_RT/004",
            "BusinessPartnerIDByExtSystem",
        ),
        (
            bp_payload(to_BusinessPartnerRole=[]),
            "CVI_API/015",
            "/to_BusinessPartnerRole/BusinessPartnerRole",
        ),
    ],
)
def test_business_partner_refusals_name_the_offending_property(
    erp: httpx.Client, payload: dict[str, Any], code: str, target: str
) -> None:
    before = stats(erp)["customers"]

    assert (code, target) in refused(erp.post(BP, json=payload))
    assert stats(erp)["customers"] == before


def test_a_us_customer_needs_no_tax_number(erp: httpx.Client) -> None:
    created(erp.post(BP, json=bp_payload("1710", to_BusinessPartnerTax=[])))


# --- sales orders -----------------------------------------------------------------------------


def test_an_order_is_priced_from_the_catalog_with_the_countrys_output_tax(
    erp: httpx.Client,
) -> None:
    entity = order(erp, customer(erp, "1710"), "1710")

    assert len(entity["SalesOrder"]) == 10
    assert (entity["TotalNetAmount"], entity["TransactionCurrency"]) == ("208.97", "USD")
    items = erp.get(
        f"{SO}('{entity['SalesOrder']}')/to_Item", params={"$expand": "to_PricingElement"}
    ).json()["d"]["results"]
    assert [i["NetAmount"] for i in items] == ["59.97", "149.00"]
    taxes = [
        [
            p["ConditionAmount"]
            for p in i["to_PricingElement"]["results"]
            if p["ConditionClass"] == "D"
        ]
        for i in items
    ]
    assert taxes == [["4.95"], ["12.29"]]
    assert "TaxAmount" not in items[0]  # only the latest release has it on the item
    assert items[0]["RequestedQuantity"] == "3.000"
    assert (entity["TotalCreditCheckStatus"], entity["OverallSDProcessStatus"]) == ("A", "A")
    assert entity["RequestedDeliveryDate"] == "/Date(1797292800000)/"


def test_sales_order_refusals_name_the_offending_item_property(erp: httpx.Client) -> None:
    german = customer(erp, "1010")
    items = {
        "results": [
            {"SalesOrderItem": "10", "Material": "FG-NOPE", "RequestedQuantity": "1"},
            {
                "SalesOrderItem": "20",
                "Material": "FG-GADGET2",
                "RequestedQuantity": "1",
                "to_PricingElement": [{"ConditionType": "EDI1", "ConditionRateValue": "99.00"}],
            },
        ]
    }

    assert refused(erp.post(SO, json=so_payload(german, to_Item=items))) == [
        ("V1/392", "/to_Item(10)/Material"),
        ("V1/841", "/to_Item(20)/to_PricingElement(EDI1)/ConditionRateValue"),
    ]
    assert refused(erp.post(SO, json=so_payload(german, "1510"))) == [("V1/324", "SoldToParty")]
    assert refused(erp.post(SO, json=so_payload("0999999999"))) == [("V1/302", "SoldToParty")]
    assert refused(erp.post(SO, json=so_payload(german, "7777")))[0][0] == "V1/311"


@pytest.mark.parametrize("currency", ["CHF", "XYZ"])
def test_a_currency_the_system_does_not_define_is_refused_not_priced_as_another(
    erp: httpx.Client, currency: str
) -> None:
    german = customer(erp, "1010")
    area = bp_payload()["to_Customer"]["to_CustomerSalesArea"]["results"][0]
    customer_in = bp_payload(
        to_Customer={
            **bp_payload()["to_Customer"],
            "to_CustomerSalesArea": {"results": [{**area, "Currency": currency}]},
        }
    )
    before = stats(erp)

    assert refused(erp.post(SO, json=so_payload(german, TransactionCurrency=currency))) == [
        ("V1/220", "TransactionCurrency")
    ]
    simulation = so_payload(german, TransactionCurrency=currency)
    del simulation["YY1_GatewayRef_SDH"]  # no custom field on the simulation
    assert refused(erp.post(SIMULATION, json=simulation)) == [("V1/220", "TransactionCurrency")]
    target = (
        "/to_Customer/to_CustomerSalesArea(SalesOrganization='1010',DistributionChannel='10',"
        "Division='00')/Currency"
    )
    assert ("CVI_API/005", target) in refused(erp.post(BP, json=customer_in))
    after = stats(erp)
    assert (after["customers"], after["sales_orders"]) == (
        before["customers"],
        before["sales_orders"],
    )
    # The currencies of its company codes are defined: an order in EUR is priced as before.
    assert order(erp, german, TransactionCurrency="EUR")["TotalNetAmount"] == "208.97"


def test_an_order_over_the_credit_limit_is_saved_with_a_credit_block(erp: httpx.Client) -> None:
    before = stats(erp)["sales_orders"]
    entity = order(erp, customer(erp, YY1_CreditLimit_bus="200.00"))

    assert stats(erp)["sales_orders"] == before + 1
    assert (entity["TotalCreditCheckStatus"], entity["OverallSDProcessStatus"]) == ("B", "A")
    moved = erp.post("/_sim/advance", json={"sales_order": entity["SalesOrder"]}).json()
    assert moved == {"changed": []}


def test_filters_find_orders_by_references_and_sold_to_party(erp: httpx.Client) -> None:
    sold_to = customer(erp)
    first = order(erp, sold_to, PurchaseOrderByCustomer="PO-SHARED")
    second = order(erp, sold_to, PurchaseOrderByCustomer="PO-SHARED")

    def numbers(filter_text: str, **params: str) -> list[str]:
        response = erp.get(SO, params={"$filter": filter_text, **params})
        assert response.status_code == 200, response.text
        return [e["SalesOrder"] for e in response.json()["d"]["results"]]

    both = [first["SalesOrder"], second["SalesOrder"]]
    assert numbers(f"YY1_GatewayRef_SDH eq '{first['YY1_GatewayRef_SDH']}'") == both[:1]
    assert numbers("PurchaseOrderByCustomer eq 'PO-SHARED'") == both
    assert numbers(f"SoldToParty eq '{sold_to}'") == both
    assert numbers(f"SoldToParty eq '{sold_to}' and SalesOrder ne '{both[0]}'") == both[1:]
    assert numbers("PurchaseOrderByCustomer eq 'PO-SHARED'", **{"$top": "1"}) == both[:1]
    assert numbers("YY1_GatewayRef_SDH eq 'gw-never'") == []
    assert erp.get(SO, params={"$filter": "SoldToParty eq"}).status_code == 400
    assert erp.get(SO, params={"$filter": "NoSuchField eq 'x'"}).status_code == 400


def test_only_the_order_header_has_an_etag_and_items_are_rejected_without_one(
    erp: httpx.Client,
) -> None:
    number = order(erp, customer(erp))["SalesOrder"]
    read = read_order(erp, number)
    etag = read.headers["etag"]
    item = (
        f"{ODATA}/API_SALES_ORDER_SRV/A_SalesOrderItem(SalesOrder='{number}',SalesOrderItem='10')"
    )
    reject = {"SalesDocumentRjcnReason": "10"}

    assert etag == read.json()["d"]["__metadata"]["etag"]
    assert "etag" not in read.json()["d"]["to_Item"]["results"][0]["__metadata"]
    done = erp.patch(item, json=reject)
    assert done.status_code == 204 and "etag" not in done.headers

    partly = read_order(erp, number)
    assert partly.headers["etag"] != etag
    assert partly.json()["d"]["OverallSDDocumentRejectionSts"] == "B"
    assert partly.json()["d"]["TotalNetAmount"] == "149.00"
    erp.request("MERGE", item.replace("'10'", "'20'"), json=reject).raise_for_status()
    assert read_order(erp, number).json()["d"]["OverallSDDocumentRejectionSts"] == "C"


def test_an_order_with_a_delivery_cannot_be_rejected(erp: httpx.Client) -> None:
    number = order(erp, customer(erp))["SalesOrder"]
    erp.post("/_sim/advance", json={"sales_order": number}).raise_for_status()
    item = (
        f"{ODATA}/API_SALES_ORDER_SRV/A_SalesOrderItem(SalesOrder='{number}',SalesOrderItem='10')"
    )

    response = erp.patch(item, json={"SalesDocumentRjcnReason": "10"}, headers={"If-Match": "*"})

    assert refused(response) == [("V1/446", "SalesDocumentRjcnReason")]


def test_advancing_moves_an_order_through_delivery_goods_issue_billing_and_clearing(
    erp: httpx.Client,
) -> None:
    number = order(erp, customer(erp))["SalesOrder"]

    def header() -> dict[str, Any]:
        entity: dict[str, Any] = read_order(erp, number).json()["d"]
        return entity

    def advance(**body: str) -> list[dict[str, str]]:
        response = erp.post("/_sim/advance", json={"sales_order": number, **body})
        assert response.status_code == 200, response.text
        changed: list[dict[str, str]] = response.json()["changed"]
        return changed

    [step] = advance()
    assert (step["from"], step["to"]) == ("accepted", "in_fulfillment")
    # SAP counts the order delivered (and done) once its delivery exists, goods issued or not.
    assert (header()["OverallSDProcessStatus"], header()["OverallTotalDeliveryStatus"]) == (
        "C",
        "C",
    )
    delivery_items = erp.get(
        DELIVERY_ITEMS, params={"$filter": f"ReferenceSDDocument eq '{number}'"}
    )
    [line, _] = delivery_items.json()["d"]["results"]
    assert line["DeliveryDocument"] == step["document"] and line["GoodsMovementStatus"] == "A"

    [step] = advance()
    delivery = erp.get(
        f"{ODATA}/API_OUTBOUND_DELIVERY_SRV/A_OutbDeliveryHeader('{step['document']}')",
        params={"$expand": "to_DeliveryDocumentItem"},
    ).json()["d"]
    assert delivery["OverallGoodsMovementStatus"] == "C"
    assert delivery["ActualGoodsMovementDate"].startswith("/Date(")

    assert [s["to"] for s in advance(to="paid")] == ["invoiced", "paid"]
    billing_items = erp.get(BILLING_ITEMS, params={"$filter": f"SalesDocument eq '{number}'"})
    document = billing_items.json()["d"]["results"][0]["BillingDocument"]
    bill = erp.get(f"{BILLING}('{document}')", params={"$expand": "to_Item"}).json()["d"]
    assert (bill["TotalNetAmount"], bill["TaxAmount"], bill["TotalGrossAmount"]) == (
        "208.97",
        "39.70",
        "248.67",
    )
    assert bill["InvoiceClearingStatus"] == "C"
    assert advance() == [] and advance(to="invoiced") == []


def test_advance_refuses_unknown_stages_and_orders(erp: httpx.Client) -> None:
    assert erp.post("/_sim/advance", json={"to": "lost"}).status_code == 400
    assert erp.post("/_sim/advance", json={"sales_order": "0000000000"}).status_code == 404


def test_a_simulation_answers_totals_and_credit_under_the_navigations_it_was_asked_for(
    erp: httpx.Client,
) -> None:
    sold_to = customer(erp, YY1_CreditLimit_bus="100.00")
    before = stats(erp)["sales_orders"]
    payload = so_payload(sold_to)
    del payload["YY1_GatewayRef_SDH"]  # no custom field on the simulation

    simulated = created(erp.post(SIMULATION, json={**payload, "to_Pricing": {}, "to_Credit": {}}))
    bare = created(erp.post(SIMULATION, json=payload))

    assert "TotalNetAmount" not in simulated and "TotalCreditCheckStatus" not in simulated
    assert simulated["to_Pricing"]["TotalNetAmount"] == "208.97"
    assert simulated["to_Credit"]["TotalCreditCheckStatus"] == "B"
    items = simulated["to_Item"]["results"]
    assert [(i["NetAmount"], i["TaxAmount"]) for i in items] == [
        ("59.97", "11.39"),
        ("149.00", "28.31"),
    ]
    assert items[0]["__metadata"]["type"].endswith(".A_SalesOrderItemSimulationType")
    assert "to_Pricing" not in bare and "to_Credit" not in bare
    assert [i["NetAmount"] for i in bare["to_Item"]["results"]] == ["0.00", "0.00"]
    assert stats(erp)["sales_orders"] == before


# --- protocol, control and faults -------------------------------------------------------------


def test_unknown_resources_are_404_in_the_sap_envelope(erp: httpx.Client) -> None:
    assert refused(erp.get(f"{SO}('0099999999')"), 404)[0][0] == "/IWBEP/CM_MGW_RT/020"
    assert erp.get(ODATA + "/API_SALES_ORDER_SRV/A_Nothing").status_code == 404
    # A service SAP Gateway does not have is its hub's message, not the service's not-found.
    no_service = erp.get(ODATA + "/NO_SUCH_SRV/")
    assert refused(no_service, 404) == [("/IWFND/MED/170", "")]
    assert no_service.json()["error"]["message"]["value"] == (
        "No service found for namespace '/SAP/', name 'NO_SUCH_SRV', version '0001'"
    )
    assert erp.get(SO_ROOT).json()["d"]["EntitySets"] == [
        "A_SalesOrder",
        "A_SalesOrderItem",
        "A_SalesOrderItemPrElement",
    ]
    assert "A_SalesOrder" in erp.get(SO_ROOT + "$metadata").text


def test_a_service_not_activated_is_answered_as_sap_gateway_answers_one_it_does_not_have() -> None:
    options = SimOptions(inactive_services=frozenset({"API_SALES_ORDER_SRV"}))
    with (
        serve_app(create_app(options=options)) as base,
        httpx.Client(base_url=base, auth=AUTH) as client,
    ):
        for path in (SO_ROOT, SO_ROOT + "$metadata", f"{SO}('0000000001')"):
            assert refused(client.get(path), 404)[0][0] == "/IWFND/MED/170"
        assert client.get(BP, params={"$top": "1"}).status_code == 200


def test_reset_clears_all_data_and_counters(url: str) -> None:
    with httpx.Client(base_url=url, auth=AUTH) as client:
        client.get(SO_ROOT, headers={"X-CSRF-Token": "Fetch"})
        client.post("/_sim/reset").raise_for_status()

        counts = stats(client)
    assert {k: counts[k] for k in ("customers", "sales_orders", "csrf_fetches", "requests")} == {
        "customers": 0,
        "sales_orders": 0,
        "csrf_fetches": 0,
        "requests": 0,
    }


def test_an_error_fault_hits_only_its_operation_and_answers_in_the_sap_envelope(
    erp: httpx.Client,
) -> None:
    erp.post(
        "/_sim/faults", json={"mode": "error", "status": 503, "operations": ["customers.create"]}
    )

    assert refused(erp.post(BP, json=bp_payload()), 503)[0][0] == "/IWFND/CM_BEC/026"
    assert erp.get(SO, params={"$top": "1"}).status_code == 200


def test_a_malformed_fault_answers_unreadable_json(erp: httpx.Client) -> None:
    erp.post("/_sim/faults", json={"mode": "malformed", "operations": ["sales_orders.read"]})

    response = erp.get(SO)

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_a_malformed_fault_can_send_the_real_entity_without_some_properties(
    erp: httpx.Client,
) -> None:
    order = erp.post(SO, json=so_payload(customer(erp))).json()["d"]["SalesOrder"]
    erp.post(
        "/_sim/faults",
        json={"mode": "malformed", "omit": ["SoldToParty"], "operations": ["sales_orders.read"]},
    )

    entity = erp.get(f"{SO}('{order}')").json()["d"]

    assert entity["SalesOrder"] == order and "SoldToParty" not in entity


def test_an_html_fault_answers_a_proxys_error_page_and_the_erp_never_sees_the_request(
    erp: httpx.Client,
) -> None:
    before = erp.get("/_sim/stats").json()["customers"]
    erp.post("/_sim/faults", json={"mode": "html", "status": 404})

    response = erp.post(BP, json=bp_payload())

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>404 Not Found</h1>" in response.text
    assert erp.get("/_sim/stats").json()["customers"] == before


def test_commit_then_timeout_commits_the_write_before_hanging(erp: httpx.Client) -> None:
    sold_to = customer(erp)
    payload = so_payload(sold_to)
    erp.post(
        "/_sim/faults",
        json={
            "mode": "commit_then_timeout",
            "latency_ms": 800,
            "operations": ["sales_orders.create"],
        },
    )

    with pytest.raises(httpx.ReadTimeout):
        erp.post(SO, json=payload, timeout=0.3)
    erp.delete("/_sim/faults")

    found = erp.get(
        SO, params={"$filter": f"YY1_GatewayRef_SDH eq '{payload['YY1_GatewayRef_SDH']}'"}
    )
    assert len(found.json()["d"]["results"]) == 1


async def test_hundreds_of_concurrent_requests_are_served(url: str, erp: httpx.Client) -> None:
    sold_to = customer(erp)
    session = "; ".join(f"{k}={v}" for k, v in erp.cookies.items())
    headers = {
        "Authorization": "Basic " + base64.b64encode(":".join(AUTH).encode()).decode(),
        "Cookie": session,
        "x-csrf-token": erp.headers["x-csrf-token"],
    }

    async def call(method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        async with http.request(method, url + path, json=body, headers=headers) as response:
            return response.status, await response.json()

    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as http:
        writes = [call("POST", SO, so_payload(sold_to)) for _ in range(100)]
        reads = [call("GET", f"{BP}('{sold_to}')") for _ in range(200)]
        answers = await asyncio.gather(*writes, *reads)

    assert [status for status, _ in answers] == [201] * 100 + [200] * 200
    assert len({body["d"]["SalesOrder"] for _, body in answers[:100]}) == 100
    assert stats(erp)["peak_in_flight"] > 1


def test_the_module_runs_as_a_program_on_the_port_it_is_given() -> None:
    port = free_port()
    args = [PYTHON, "-m", "erp_simulators.sap", "--port", str(port)]
    with run_process(args, f"http://127.0.0.1:{port}/_sim/stats", expect=200):
        response = httpx.get(f"http://127.0.0.1:{port}{SO_ROOT}", auth=AUTH)
    assert response.status_code == 200


# --- the wire format, as SAP's metadata declares it -------------------------------------------


@contextlib.contextmanager
def simulator(**options: Any) -> Iterator[httpx.Client]:
    """A fresh simulator of the given kind, and a logged-on client with a CSRF session."""
    with (
        serve_app(create_app(options=SimOptions(**options))) as base,
        httpx.Client(base_url=base, auth=AUTH, timeout=5) as client,
    ):
        fetched = client.get(SO_ROOT, headers={"X-CSRF-Token": "Fetch"})
        client.headers["x-csrf-token"] = fetched.headers["x-csrf-token"]
        yield client


def metadata_of(erp: httpx.Client, service: str) -> pyodata_model.Schema:
    response = erp.get(f"{ODATA}/{service}/$metadata")
    assert response.headers["content-type"].startswith("application/xml")
    return pyodata_model.MetadataBuilder(response.content).build()


SERVICE_NAMES = [
    "API_BUSINESS_PARTNER",
    "API_SALES_ORDER_SRV",
    "API_SALES_ORDER_SIMULATION_SRV",
    "API_OUTBOUND_DELIVERY_SRV",
    "API_BILLING_DOCUMENT_SRV",
    "API_COMPANYCODE_SRV",
    "API_SALESORGANIZATION_SRV",
    "API_PRODUCT_SRV",
]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_services_metadata_declares_typed_entity_types_that_pyodata_loads(
    erp: httpx.Client, service: str
) -> None:
    schema = metadata_of(erp, service)

    sets = list(schema.entity_sets)
    assert sets, "no entity sets"
    for entity_set in sets:
        entity_type = entity_set.entity_type
        assert entity_type.key_proprties, entity_type.name
        assert all(p.typ.name.startswith("Edm.") for p in entity_type.proprties())


def test_metadata_gives_types_lengths_precisions_navigations_and_the_header_etag(
    erp: httpx.Client,
) -> None:
    orders = metadata_of(erp, "API_SALES_ORDER_SRV")
    header = orders.entity_set("A_SalesOrder").entity_type
    net = header.proprty("TotalNetAmount")
    simulation = metadata_of(erp, "API_SALES_ORDER_SIMULATION_SRV")
    simulated = simulation.entity_set("A_SalesOrderSimulation").entity_type

    assert (net.typ.name, net.precision, net.scale) == ("Edm.Decimal", 16, 3)
    assert header.proprty("PurchaseOrderByCustomer").max_length == 35
    assert header.nav_proprty("to_Item").to_role.entity_type.name == "A_SalesOrderItemType"
    assert "ConcurrencyMode" in erp.get(f"{ODATA}/API_SALES_ORDER_SRV/$metadata").text
    assert {n.name for n in simulated.nav_proprties} == {"to_Item", "to_Pricing", "to_Credit"}
    assert "TotalNetAmount" not in {p.name for p in simulated.proprties()}
    billing = metadata_of(erp, "API_BILLING_DOCUMENT_SRV").entity_set("A_BillingDocument")
    assert "TaxAmount" in {p.name for p in billing.entity_type.proprties()}


@pytest.mark.parametrize(
    ("change", "code", "target"),
    [
        ({"NoSuchField": "x"}, "/IWBEP/CM_MGW_RT/007", "NoSuchField"),
        ({"PurchaseOrderByCustomer": "P" * 36}, "/IWBEP/CM_MGW_RT/004", "PurchaseOrderByCustomer"),
        ({"RequestedDeliveryDate": "next week"}, "/IWBEP/CM_MGW_RT/003", "RequestedDeliveryDate"),
        ({"SoldToParty": 1000001}, "/IWBEP/CM_MGW_RT/003", "SoldToParty"),
        (
            {"to_Item": [{"Material": "FG-WIDGET1", "RequestedQuantity": 3}]},
            "/IWBEP/CM_MGW_RT/003",
            "to_Item/RequestedQuantity",
        ),
        (
            {"to_Item": [{"Material": "FG-WIDGET1", "NetPriceAmount": "1.00"}]},
            "/IWBEP/CM_MGW_RT/007",
            "to_Item/NetPriceAmount",
        ),
    ],
)
def test_a_payload_the_metadata_does_not_allow_is_refused_before_any_business_check(
    erp: httpx.Client, change: dict[str, Any], code: str, target: str
) -> None:
    before = stats(erp)["sales_orders"]

    assert refused(erp.post(SO, json=so_payload("0000000000", **change))) == [(code, target)]
    assert stats(erp)["sales_orders"] == before


def test_collections_are_paged_by_the_server_with_next_links() -> None:
    with simulator(page_size=2) as erp:
        sold_to = customer(erp)
        numbers = [order(erp, sold_to)["SalesOrder"] for _ in range(5)]
        query = {"$filter": f"SoldToParty eq '{sold_to}'", "$inlinecount": "allpages"}

        first = erp.get(SO, params=query).json()["d"]
        seen = [e["SalesOrder"] for e in first["results"]]
        link = first.get("__next")
        while link:
            page = erp.get(link).json()["d"]
            seen += [e["SalesOrder"] for e in page["results"]]
            link = page.get("__next")
        window = erp.get(SO, params={**query, "$top": "3", "$skip": "1"}).json()["d"]
        rest = erp.get(window["__next"]).json()["d"]
        count = erp.get(SO + "/$count", params={"$filter": query["$filter"]})

    assert (len(first["results"]), first["__count"]) == (2, "5")
    assert "$skiptoken=2" in first["__next"]
    assert seen == numbers
    assert [e["SalesOrder"] for e in window["results"] + rest["results"]] == numbers[1:4]
    assert "__next" not in rest
    assert (count.text, count.headers["content-type"].split(";")[0]) == ("5", "text/plain")


def test_select_returns_only_the_chosen_properties_and_refuses_unknown_ones(
    erp: httpx.Client,
) -> None:
    number = order(erp, customer(erp))["SalesOrder"]

    entity = erp.get(
        f"{SO}('{number}')",
        params={"$select": "SalesOrder,TotalNetAmount,to_Item/Material", "$expand": "to_Item"},
    ).json()["d"]
    wrong = erp.get(f"{SO}('{number}')", params={"$select": "NetPriceAmount"})

    assert set(entity) == {"__metadata", "SalesOrder", "TotalNetAmount", "to_Item"}
    assert [set(i) for i in entity["to_Item"]["results"]] == [{"__metadata", "Material"}] * 2
    assert refused(wrong)[0][0] == "/IWBEP/CM_MGW_RT/011"


def test_a_create_with_warnings_answers_them_in_the_sap_message_header(
    erp: httpx.Client,
) -> None:
    sold_to = customer(erp)
    items = [{"SalesOrderItem": "10", "Material": "FG-GADGET2", "RequestedQuantity": "60"}]

    warned = erp.post(SO, json=so_payload(sold_to, to_Item=items))
    quiet = erp.post(SO, json=so_payload(sold_to))

    assert warned.status_code == 201
    message = json.loads(warned.headers["sap-message"])
    assert (message["code"], message["severity"], message["details"]) == ("V1/880", "warning", [])
    assert message["target"] == "/to_Item(10)/RequestedQuantity"
    assert "material FG-GADGET2" in message["message"] and "10 EA" in message["message"]
    assert "sap-message" not in quiet.headers


def test_numbers_can_be_shown_unpadded_and_are_found_either_way() -> None:
    with simulator(unpadded_keys=True) as erp:
        sold_to = customer(erp)
        entity = order(erp, sold_to)
        number = entity["SalesOrder"]
        padded = erp.get(f"{SO}('{number.zfill(10)}')")
        unpadded = erp.get(f"{SO}('{number}')")
        found = erp.get(SO, params={"$filter": f"SoldToParty eq '{sold_to}'"}).json()["d"]

    assert (sold_to, number) == ("1000001", "10000001")
    assert entity["SoldToParty"] == sold_to
    assert entity["__metadata"]["uri"].endswith(f"A_SalesOrder('{number}')")
    assert padded.json()["d"]["SalesOrder"] == unpadded.json()["d"]["SalesOrder"] == number
    assert [e["SalesOrder"] for e in found["results"]] == [number]


def test_a_tenant_without_the_custom_fields_has_none_in_its_metadata_and_refuses_them() -> None:
    with simulator(custom_fields=False) as erp:
        metadata = erp.get(f"{ODATA}/API_BUSINESS_PARTNER/$metadata").text
        with_fields = erp.post(BP, json=bp_payload())
        payload = bp_payload()
        del payload["YY1_GatewayRef_SDH"], payload["YY1_CreditLimit_bus"]
        without = erp.post(BP, json=payload)

    assert "YY1_" not in metadata
    assert refused(with_fields)[0] == ("/IWBEP/CM_MGW_RT/007", "YY1_GatewayRef_SDH")
    assert without.status_code == 201 and "YY1_GatewayRef_SDH" not in without.json()["d"]


def test_the_newer_release_adds_its_fields_and_the_baseline_has_none_of_them(
    erp: httpx.Client,
) -> None:
    baseline = order(erp, customer(erp))
    with simulator(release=Release.LATEST) as newer:
        latest = order(newer, customer(newer))

    for field in ("OverallDeliveryStatus", "TotalBlockStatus", "OverallOrdReltdBillgStatus"):
        assert field in latest and field not in baseline
    assert "TaxAmount" in latest["to_Item"]["results"][0]
    assert "TaxAmount" not in baseline["to_Item"]["results"][0]


def test_gateway_simulate_legacy_takes_the_kind_of_sap_system_from_its_flags() -> None:
    port = free_port()
    args = [PYTHON, "-m", "gateway.cli", "simulate", "legacy", "--port", str(port)]
    flags = ["--no-custom-fields", "--page-size", "1", "--release", "latest"]
    flags += ["--inactive-service", "API_BILLING_DOCUMENT_SRV"]
    with run_process([*args, *flags], f"http://127.0.0.1:{port}/_sim/stats", expect=200):
        metadata = httpx.get(
            f"http://127.0.0.1:{port}{ODATA}/API_SALES_ORDER_SRV/$metadata", auth=AUTH
        ).text
        billing = httpx.get(f"http://127.0.0.1:{port}{BILLING}", auth=AUTH)

    assert "YY1_GatewayRef_SDH" not in metadata and 'Name="OverallDeliveryStatus"' in metadata
    assert refused(billing, 404)[0][0] == "/IWFND/MED/170"

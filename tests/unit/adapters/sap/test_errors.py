"""SAP refusals as canonical problems: codes, pointers into the request, technical statuses."""

from __future__ import annotations

import pytest

from gateway.adapters.sap.errors import Subject, error_from_sap, technical_error
from gateway.adapters.sap.odata import (
    SapAnswerError,
)
from gateway.domain.errors import Code, ErpFailure
from tests.unit.adapters.sap.samples import TERMS, sap_error


@pytest.mark.parametrize(
    ("detail", "subject", "code", "pointer"),
    [
        (("V1/392", "Material X does not exist", "/to_Item(20)/Material"),
         Subject.SALES_ORDER, Code.UNKNOWN_SKU, "/items/1/product_id"),
        (("V1/841", "Expected price differs",
          "/to_Item(10)/to_PricingElement(EDI1)/ConditionRateValue"),
         Subject.SALES_ORDER, Code.PRICE_MISMATCH, "/items/0/price/amount"),
        (("V1/501", "Quantity not valid", "/to_Item(30)/RequestedQuantity"),
         Subject.SALES_ORDER, Code.ERP_REJECTED, "/items/2/quantity"),
        (("V1/302", "Sold-to party does not exist", "SoldToParty"),
         Subject.SALES_ORDER, Code.CUSTOMER_NOT_FOUND, "/customer_id"),
        (("V1/324", "Sold-to party not in sales area", "SoldToParty"),
         Subject.SALES_ORDER, Code.CUSTOMER_LEGAL_ENTITY_MISMATCH, "/customer_id"),
        (("CVI_API/012", "Enter a tax number", "/to_BusinessPartnerTax/BPTaxNumber"),
         Subject.CUSTOMER, Code.TAX_ID_REQUIRED, "/tax_id"),
        (("CVI_API/011", "Terms NT90 not defined",
          "/to_Customer/to_CustomerCompany('1010')/PaymentTerms"),
         Subject.CUSTOMER, Code.INVALID_PAYMENT_TERMS, "/payment_terms"),
        (("/IWBEP/CM_MGW_RT/004", "Value too long", "BusinessPartnerIDByExtSystem"),
         Subject.CUSTOMER, Code.ERP_REJECTED, "/external_ref"),
        (("/IWBEP/CM_MGW_RT/004", "Value too long", "/to_BusinessPartnerAddress/CityName"),
         Subject.CUSTOMER, Code.ERP_REJECTED, "/addresses/0/city"),
        (("CVI_API/012", "Enter a tax number", ""),
         Subject.CUSTOMER, Code.TAX_ID_REQUIRED, "/tax_id"),
        (("ZZ/999", "Something SAP-specific", "SomeField"),
         Subject.CUSTOMER, Code.ERP_REJECTED, ""),
    ],
)  # fmt: skip
def test_sap_refusals_become_business_problems_pointing_into_the_canonical_request(
    detail: tuple[str, str, str], subject: Subject, code: Code, pointer: str
) -> None:
    error = error_from_sap(sap_error(detail), subject, TERMS)

    assert (error.code, error.status, error.retryable) == (code, 422, False)
    assert [(e.pointer, e.detail) for e in error.errors] == [(pointer, detail[1])]
    assert error.detail == error.erp_message == detail[1]  # nothing in them to translate


def test_a_refusal_names_skus_and_legal_entities_and_keeps_sap_words_for_support() -> None:
    target = "/to_Item(10)/to_PricingElement(EDI1)/ConditionRateValue"
    price = "Customer expected price 99.00 EUR differs from the net price 149.00 EUR"
    tax = "Enter a tax number: customers of company code 1010 (DE) need a VAT number"
    body = sap_error(("V1/841", price + " of material FG-GADGET2", target))

    error = error_from_sap(body, Subject.SALES_ORDER, TERMS)
    customer = error_from_sap(
        sap_error(("CVI_API/012", tax, "/to_BusinessPartnerTax/BPTaxNumber")),
        Subject.CUSTOMER,
        TERMS,
    )

    assert error.detail == price + " of product GADGET-2"
    assert [e.detail for e in error.errors] == [price + " of product GADGET-2"]
    assert error.erp_message == price + " of material FG-GADGET2"
    assert error.problem("c")["erp_message"] == price + " of material FG-GADGET2"
    assert customer.detail == tax.replace("company code 1010", "legal entity DE01")
    assert customer.errors[0].detail == customer.detail and "1010" in str(customer.erp_message)


def test_several_sap_details_keep_every_pointer_and_message() -> None:
    price_target = "/to_Item(20)/to_PricingElement(EDI1)/ConditionRateValue"
    body = sap_error(
        ("V1/392", "Material FG-X does not exist", "/to_Item(10)/Material"),
        ("V1/841", "Expected price 99.00 differs from 149.00", price_target),
    )

    error = error_from_sap(body, Subject.SALES_ORDER, TERMS)

    assert error.code is Code.UNKNOWN_SKU
    assert [e.pointer for e in error.errors] == ["/items/0/product_id", "/items/1/price/amount"]
    assert error.detail == "Material FG-X does not exist; Expected price 99.00 differs from 149.00"


def test_a_refused_cancel_is_invalid_state_with_sap_words() -> None:
    body = sap_error(("V1/446", "Item 10 cannot be rejected: delivery exists", "X"))

    error = error_from_sap(body, Subject.CANCEL, TERMS)

    assert (error.code, error.errors) == (Code.INVALID_STATE, [])
    assert "delivery exists" in error.detail


def test_an_envelope_without_details_uses_its_top_level_message() -> None:
    body = {"error": {"code": "V1/392", "message": {"lang": "en", "value": "No material"}}}

    error = error_from_sap(body, Subject.SALES_ORDER, TERMS)

    assert (error.code, error.detail) == (Code.UNKNOWN_SKU, "No material")


def test_a_body_that_is_no_sap_envelope_is_unreadable() -> None:
    with pytest.raises(SapAnswerError):
        error_from_sap({"message": "nope"}, Subject.CUSTOMER, TERMS)


@pytest.mark.parametrize(
    ("status", "write", "code", "ambiguous"),
    [
        (500, True, Code.ERP_UNAVAILABLE, True),  # may follow the commit
        (502, True, Code.ERP_UNAVAILABLE, True),
        (500, False, Code.ERP_UNAVAILABLE, False),
        (503, True, Code.ERP_UNAVAILABLE, False),  # refused before any work
        (429, True, Code.ERP_UNAVAILABLE, False),
        (503, False, Code.ERP_UNAVAILABLE, False),
        (429, False, Code.ERP_UNAVAILABLE, False),
        (401, False, Code.ERP_UNAVAILABLE, False),
        (504, True, Code.ERP_TIMEOUT, True),
        (504, False, Code.ERP_TIMEOUT, False),
        (405, True, Code.ERP_BAD_RESPONSE, False),
    ],
)
def test_technical_statuses_become_retryable_technical_problems(
    status: int, write: bool, code: Code, ambiguous: bool
) -> None:
    error = technical_error(status, write=write, retry_after="3")

    assert isinstance(error, ErpFailure)
    assert (error.code, error.ambiguous, error.retryable) == (code, ambiguous, True)
    assert error.headers == ({} if code is Code.ERP_BAD_RESPONSE else {"Retry-After": "3"})


@pytest.mark.parametrize(
    ("asked", "passed_on"),
    [("0", {"Retry-After": "1"}), ("-3", {}), ("Wed, 21 Oct 2015 07:28:00 GMT", {}), ("", {})],
)
def test_sap_retry_after_reaches_the_client_as_whole_seconds_of_at_least_one(
    asked: str, passed_on: dict[str, str]
) -> None:
    """STANDARDS.md: Retry-After in delay-seconds; a 0 would send every client back at once."""
    error = technical_error(503, write=False, retry_after=asked)
    assert error.headers == passed_on


@pytest.mark.parametrize("asked", ["86400", "300000", "9" * 400])
def test_an_erps_long_retry_after_reaches_the_client_capped_at_five_minutes(asked: str) -> None:
    """An ERP asking for a day would have the CRM wait a day, whenever the ERP is back: the
    client is told at most MAX_ERP_RETRY_AFTER_S (a value past any float was a 500)."""
    error = technical_error(503, write=False, retry_after=asked)
    assert error.headers == {"Retry-After": "300"}


# SAP Gateway maps every exception of the chain to an error detail too (SAP Help, "Error
# Response Control for Backend Data Provider"): the framework's own wrapper says nothing.
_WRAPPER = {
    "code": "/IWBEP/CX_MGW_BUSI_EXCEPTION",
    "message": "An exception was raised.",
    "propertyref": "",
    "severity": "error",
    "target": "",
}


def test_the_gateway_frameworks_exception_entry_is_no_refusal_of_its_own() -> None:
    body = sap_error(("V1/392", "Material X does not exist", "/to_Item(20)/Material"))
    body["error"]["innererror"]["errordetails"].append(_WRAPPER)

    error = error_from_sap(body, Subject.SALES_ORDER, TERMS)

    assert error.code is Code.UNKNOWN_SKU
    assert [(e.pointer, e.detail) for e in error.errors] == [
        ("/items/1/product_id", "Material X does not exist")
    ]
    assert error.detail == error.erp_message == "Material X does not exist"


def test_an_exception_class_is_the_refusal_when_sap_sent_no_message_besides() -> None:
    said = "Creating operations are disabled for entity 'API_SALES_ORDER_SRV~A_SALESORDER'"
    body = sap_error(("CX_SADL_ENTITY_CUD_DISABLED", said, ""))
    body["error"]["innererror"]["errordetails"].append(_WRAPPER)

    error = error_from_sap(body, Subject.SALES_ORDER, TERMS)

    assert (error.code, error.detail) == (Code.ERP_REJECTED, said)
    assert [e.detail for e in error.errors] == [said]


def test_the_code_is_that_of_sap_s_leading_message() -> None:
    # SAP's top-level code is the leading message; the details list the whole container,
    # which need not start with it.
    body = sap_error(
        ("ZZ/001", "Item 20 could not be priced", "/to_Item(20)"),
        ("V1/392", "Material X does not exist", "/to_Item(20)/Material"),
    )
    body["error"]["code"] = "V1/392"
    body["error"]["message"] = {"lang": "en", "value": "Material X does not exist"}

    error = error_from_sap(body, Subject.SALES_ORDER, TERMS)

    assert error.code is Code.UNKNOWN_SKU

"""Sample SAP value maps, canonical requests and SAP entities shared by the SAP mapping tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.adapters.base import ErpInvoice, References
from gateway.adapters.sap.terms import SapTerms
from gateway.adapters.sap.value_maps import SapMaps
from gateway.config.backends import SapLegalEntity, SapValueMaps
from gateway.domain.errors import GatewayError
from gateway.domain.models import (
    CustomerCreate,
    InvoiceStatus,
)
from tests.canonical import billing, order_item

SAMPLE_VALUE_MAPS = SapValueMaps(
    legal_entities={
        "US01": SapLegalEntity(company_code="1710", sales_organization="1710"),
        "DE01": SapLegalEntity(company_code="1010", sales_organization="1010"),
    },
    payment_terms={"NET15": "NT15", "NET30": "NT30"},
    skus={"WIDGET-1": "FG-WIDGET1", "GADGET-2": "FG-GADGET2"},
)
MAPS = SapMaps.from_config(SAMPLE_VALUE_MAPS)

TERMS = SapTerms(MAPS)


REFS = References(external_ref="CRM-ACC-1001", gateway_ref="gw-ABCDEFGHIJKLMNOPQRSTUVWXYZ")


LINES = [
    order_item("WIDGET-1", 3, Decimal("19.99")),
    order_item("GADGET-2", 1, Decimal("149.00")),
]


def customer(**overrides: Any) -> CustomerCreate:
    fields: dict[str, Any] = {
        "external_ref": "CRM-ACC-1001",
        "legal_entity": "DE01",
        "legal_name": "Acme Corp",
        "tax_id": "DE123456789",
        "email": "ap@acme.example",
        "currency": "EUR",
        "payment_terms": "NET30",
        "credit_limit": Decimal("50000.00"),
        "addresses": [
            billing(line1="Hauptstr. 5", city="Berlin", postal_code="10115", country="DE")
        ],
    }
    fields.update(overrides)
    return CustomerCreate(**fields)


def sap_error(*details: tuple[str, str, str]) -> dict[str, Any]:
    code, message, _ = details[0]
    return {
        "error": {
            "code": code,
            "message": {"lang": "en", "value": message},
            "innererror": {
                "errordetails": [
                    {"code": c, "message": m, "target": t, "severity": "error"}
                    for c, m, t in details
                ]
            },
        }
    }


def raised(call: Any, *args: Any) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        call(*args)
    return caught.value


def bp_entity(**overrides: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "__metadata": {"uri": "http://sap/A_BusinessPartner('0001000001')"},
        "BusinessPartner": "0001000001",
        "BusinessPartnerCategory": "2",
        "OrganizationBPName1": "Acme Corporation",
        "OrganizationBPName2": "North America",
        "BusinessPartnerIDByExtSystem": "CRM-ACC-1001",
        "BusinessPartnerIsBlocked": False,
        "YY1_GatewayRef_SDH": "gw-1",
        "YY1_CreditLimit_bus": "1000.00",
        "to_BusinessPartnerAddress": {
            "results": [
                {
                    "StreetName": "Hauptstr. 5",
                    "StreetSuffixName": "",
                    "CityName": "Berlin",
                    "PostalCode": "10115",
                    "Region": "",
                    "Country": "DE",
                    "to_EmailAddress": {"results": [{"EmailAddress": "ap@acme.example"}]},
                }
            ]
        },
        "to_BusinessPartnerTax": {"results": [{"BPTaxType": "DE0", "BPTaxNumber": "DE1"}]},
        "to_Customer": {
            "to_CustomerCompany": {"results": [{"CompanyCode": "1010", "PaymentTerms": "NT15"}]},
            "to_CustomerSalesArea": {
                "results": [
                    {"SalesOrganization": "1010", "Currency": "EUR", "CustomerPaymentTerms": "NT15"}
                ]
            },
        },
    }
    entity.update(overrides)
    return entity


def so_entity(**overrides: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "SalesOrder": "0010000001",
        "SoldToParty": "0001000001",
        "TransactionCurrency": "EUR",
        "TotalNetAmount": "208.97",
        "RequestedDeliveryDate": "/Date(1797292800000)/",
        "PurchaseOrderByCustomer": "CRM-OPP-77",
        "YY1_GatewayRef_SDH": "gw-2",
        "OverallSDProcessStatus": "A",
        "OverallTotalDeliveryStatus": "A",
        "TotalCreditCheckStatus": "A",
        "OverallSDDocumentRejectionSts": "A",
        "DeliveryBlockReason": "",
        "to_Item": {
            "results": [
                {
                    "SalesOrderItem": "10",
                    "Material": "FG-WIDGET1",
                    "RequestedQuantity": "3.000",
                    "NetAmount": "59.97",
                    "SalesDocumentRjcnReason": "",
                    "to_PricingElement": {
                        "results": [
                            pricing_element("B", "59.97"),
                            pricing_element("B", "59.97", statistical=True),
                            pricing_element("D", "11.39"),
                        ]
                    },
                },
                {
                    "SalesOrderItem": "20",
                    "Material": "FG-UNMAPPED",
                    "RequestedQuantity": "2.000",
                    "NetAmount": "298.00",
                    "SalesDocumentRjcnReason": "10",
                    "to_PricingElement": {"results": [pricing_element("D", "56.62")]},
                },
            ]
        },
    }
    entity.update(overrides)
    return entity


def pricing_element(condition_class: str, amount: str, statistical: bool = False) -> dict[str, Any]:
    return {
        "ConditionClass": condition_class,
        "ConditionAmount": amount,
        "ConditionIsForStatistics": statistical,
    }


def simulation_entity(**overrides: Any) -> dict[str, Any]:
    """A_SalesOrderSimulation as SAP answers it: totals and credit under their navigations."""
    items = so_entity()["to_Item"]["results"][:1]
    entity: dict[str, Any] = {
        "SalesOrder": "",
        "SoldToParty": "0001000001",
        "TransactionCurrency": "EUR",
        "to_Item": {"results": items},
        "to_Pricing": {"SalesOrder": "", "TotalNetAmount": "59.97", "TransactionCurrency": "EUR"},
        "to_Credit": {"SalesOrder": "", "TotalCreditCheckStatus": "A"},
    }
    entity.update(overrides)
    return entity


def delivery_entity(**overrides: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "DeliveryDocument": "0080000001",
        "OverallGoodsMovementStatus": "A",
        "ActualGoodsMovementDate": None,
        "to_DeliveryDocumentItem": {
            "results": [
                {
                    "DeliveryDocument": "0080000001",
                    "Material": "FG-GADGET2",
                    "ActualDeliveryQuantity": "2.000",
                    "ReferenceSDDocument": "0010000001",
                }
            ]
        },
    }
    entity.update(overrides)
    return entity


def billing_entity(**overrides: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "BillingDocument": "0090000001",
        "TransactionCurrency": "EUR",
        "TotalNetAmount": "100.00",
        "TaxAmount": "19.00",
        "TotalGrossAmount": "119.00",
        "BillingDocumentDate": "/Date(1797292800000)/",
        "to_Item": {"results": [{"BillingDocument": "0090000001", "SalesDocument": "0010000001"}]},
    }
    entity.update(overrides)
    return entity


def invoice(status: InvoiceStatus) -> ErpInvoice:
    return ErpInvoice("9", "9", "1", status, "EUR", Decimal(1), Decimal(1))

"""Canonical requests to SAP payloads: the business partner deep insert, the sales order (and
simulation) deep insert, the rejection that cancels an item. Pure functions.

Not SAP's answers (see `inbound.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from gateway.adapters.base import (
    References,
)
from gateway.adapters.prices import in_minor_units
from gateway.adapters.sap.names import name_parts
from gateway.adapters.sap.odata import odata_date, results_payload
from gateway.adapters.sap.services import (
    CANCEL_REJECTION_REASON,
    CREDIT_LIMIT_FIELD,
    CUSTOMER_ROLES,
    EXPECTED_PRICE_CONDITION,
    GATEWAY_REF_FIELD,
    ITEM_STEP,
    NAME_FIELDS,
    ORGANIZATION,
    SIMULATE_CREDIT,
    SIMULATE_PRICING,
)
from gateway.adapters.sap.value_maps import SapMaps
from gateway.adapters.value_maps import refuse_unknown_skus, unknown_terms
from gateway.config.backends import SapLegalEntity
from gateway.domain.models import (
    Address,
    CustomerCreate,
    OrderItem,
)


def customer_payload(request: CustomerCreate, refs: References, maps: SapMaps) -> dict[str, Any]:
    """The A_BusinessPartner deep insert: organization, roles, address, tax, customer data."""
    entity = maps.legal_entity(request.legal_entity)
    terms = maps.payment_terms.get(request.payment_terms)
    if terms is None:
        raise unknown_terms(request.payment_terms, maps.payment_terms)
    payload: dict[str, Any] = {
        "BusinessPartnerCategory": ORGANIZATION,
        # as many name fields as the name needs; the others left out
        **dict(zip(NAME_FIELDS, name_parts(request.legal_name), strict=False)),
        GATEWAY_REF_FIELD: refs.gateway_ref,
        CREDIT_LIMIT_FIELD: format(
            in_minor_units(request.credit_limit, request.currency, "/credit_limit"), "f"
        ),
        "to_BusinessPartnerRole": results_payload(
            [{"BusinessPartnerRole": r} for r in CUSTOMER_ROLES]
        ),
        "to_BusinessPartnerAddress": results_payload(_address_rows(request)),
        "to_Customer": {
            "to_CustomerCompany": results_payload(
                [{"CompanyCode": entity.company_code, "PaymentTerms": terms}]
            ),
            "to_CustomerSalesArea": results_payload(
                [
                    {
                        "SalesOrganization": entity.sales_organization,
                        "DistributionChannel": entity.distribution_channel,
                        "Division": entity.division,
                        "Currency": request.currency,
                        "CustomerPaymentTerms": terms,
                    }
                ]
            ),
        },
    }
    if request.display_name:
        payload["SearchTerm1"] = request.display_name  # the short name SAP users search by
    if refs.external_ref:
        payload["BusinessPartnerIDByExtSystem"] = refs.external_ref
    if request.tax_id:
        tax_type = request.billing_address.country + "0"  # e.g. DE0: the country's VAT number
        payload["to_BusinessPartnerTax"] = results_payload(
            [{"BPTaxType": tax_type, "BPTaxNumber": request.tax_id}]
        )
    return payload


def _address_rows(request: CustomerCreate) -> list[dict[str, Any]]:
    """The business partner's addresses: the billing (standard) address first, then shipping."""
    rows = [_address_row(request.billing_address, request.email)]
    if request.shipping_address is not None:
        rows.append(_address_row(request.shipping_address, None))
    return rows


def _address_row(address: Address, email: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "StreetName": address.line1,
        "CityName": address.city,
        "PostalCode": address.postal_code,
        "Country": address.country,
        "Language": "EN",
    }
    if address.line2:
        row["StreetSuffixName"] = address.line2
    if address.region:
        row["Region"] = address.region
    if email:
        row["to_EmailAddress"] = results_payload([{"EmailAddress": email}])
    return row


def sales_order_payload(
    entity: SapLegalEntity,
    customer_erp_id: str,
    currency: str,
    requested_delivery_date: dt.date | None,
    items: Sequence[OrderItem],
    maps: SapMaps,
    refs: References | None = None,
) -> dict[str, Any]:
    """The A_SalesOrder (or A_SalesOrderSimulation) deep insert with its items.

    Each item carries the CRM's unit price as an EDI1 condition (customer expected price), so
    SAP refuses the order when its own price differs: the CRM's quote was stale.
    """
    refuse_unknown_skus(items, maps.skus)
    payload: dict[str, Any] = {
        "SalesOrderType": entity.sales_order_type,
        "SalesOrganization": entity.sales_organization,
        "DistributionChannel": entity.distribution_channel,
        "OrganizationDivision": entity.division,
        "SoldToParty": customer_erp_id,
        "TransactionCurrency": currency,
    }
    if requested_delivery_date is not None:
        payload["RequestedDeliveryDate"] = odata_date(requested_delivery_date)
    if refs is not None:
        if refs.external_ref:
            payload["PurchaseOrderByCustomer"] = refs.external_ref
        payload[GATEWAY_REF_FIELD] = refs.gateway_ref
    payload["to_Item"] = results_payload(
        [_item_payload(i, item, currency, maps) for i, item in enumerate(items)]
    )
    return payload


def _item_payload(index: int, item: OrderItem, currency: str, maps: SapMaps) -> dict[str, Any]:
    return {
        "SalesOrderItem": str((index + 1) * ITEM_STEP),
        "Material": maps.skus[item.product_id],
        "RequestedQuantity": str(item.quantity),
        "to_PricingElement": results_payload(
            [
                {
                    "ConditionType": EXPECTED_PRICE_CONDITION,
                    "ConditionRateValue": format(item.price.amount, "f"),
                    "ConditionCurrency": currency,
                }
            ]
        ),
    }


def simulation_payload(
    entity: SapLegalEntity,
    customer_erp_id: str,
    currency: str,
    requested_delivery_date: dt.date | None,
    items: Sequence[OrderItem],
    maps: SapMaps,
) -> dict[str, Any]:
    """The A_SalesOrderSimulation deep insert: the order, asking for pricing and the credit
    check (SAP does each only when the request carries its navigation, empty)."""
    payload = sales_order_payload(
        entity, customer_erp_id, currency, requested_delivery_date, items, maps
    )
    return {**payload, SIMULATE_PRICING: {}, SIMULATE_CREDIT: {}}


def rejection_payload() -> dict[str, str]:
    return {"SalesDocumentRjcnReason": CANCEL_REJECTION_REASON}

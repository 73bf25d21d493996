"""API_SALES_ORDER_SRV and API_SALES_ORDER_SIMULATION_SRV: priced, credit-checked sales orders.

Not fulfilment: deliveries and billing documents follow orders in `fulfillment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from erp_simulators.sap import catalog, operations
from erp_simulators.sap.odata import (
    EntitySet,
    ErrorDetail,
    Node,
    SapError,
    alpha_in,
    bad_request,
    date_ms,
    decimal_value,
    edm_amount,
    edm_datetime,
    edm_datetimeoffset,
    edm_decimal,
    etag_of,
    inline_rows,
    key_text,
    text_value,
)
from erp_simulators.sap.records import (
    STAGES,
    BusinessPartner,
    Ledger,
    SalesOrder,
    SalesOrderItem,
    today_ms,
)

SERVICE = "API_SALES_ORDER_SRV"
SIMULATION_SERVICE = "API_SALES_ORDER_SIMULATION_SRV"

# Message numbers of the business checks (class V1), which callers may act on.
MSG_ORDER_TYPE_UNKNOWN = "V1/017"
MSG_MANDATORY = "V1/031"
MSG_PAYMENT_TERMS_UNKNOWN = "V1/212"
MSG_CURRENCY_INVALID = "V1/220"
MSG_SOLD_TO_UNKNOWN = "V1/302"
MSG_SALES_AREA_UNKNOWN = "V1/311"
MSG_SOLD_TO_NOT_IN_SALES_AREA = "V1/324"
MSG_MATERIAL_UNKNOWN = "V1/392"
MSG_REJECTION_REASON_UNKNOWN = "V1/438"
MSG_FOLLOW_ON_DOCUMENTS = "V1/446"
MSG_CHANGE_NOT_ALLOWED = "V1/447"
MSG_QUANTITY_INVALID = "V1/501"
MSG_ITEM_DUPLICATE = "V1/555"
MSG_PRICE_MISMATCH = "V1/841"
MSG_CONDITION_NOT_MANUAL = "V1/843"
# A warning, answered in the sap-message header of a successful create (the number is the
# simulator's choice: the availability check's real message numbers are not public).
MSG_PARTLY_CONFIRMED = "V1/880"

_QUANTITY_PLACES = Decimal("0.001")
_ITEM_STEP = 10


def priced_order(
    ledger: Ledger, payload: dict[str, Any], *, credit_check: bool = True
) -> SalesOrder:
    """Validate, price and (unless told not to) credit-check a deep insert of A_SalesOrder;
    nothing is kept."""
    order_type = text_value(payload, "SalesOrderType", 4)
    if order_type not in catalog.SALES_ORDER_TYPES:
        raise bad_request(
            MSG_ORDER_TYPE_UNKNOWN,
            f"Sales document type '{order_type}' is not defined",
            "SalesOrderType",
        )
    org = text_value(payload, "SalesOrganization", 4)
    channel = text_value(payload, "DistributionChannel", 2)
    division = text_value(payload, "OrganizationDivision", 2)
    for value, known, name in (
        (org, catalog.SALES_ORGANIZATIONS, "SalesOrganization"),
        (channel, catalog.DISTRIBUTION_CHANNELS, "DistributionChannel"),
        (division, catalog.DIVISIONS, "OrganizationDivision"),
    ):
        if value not in known:
            raise bad_request(
                MSG_SALES_AREA_UNKNOWN,
                f"Sales area {org}/{channel}/{division} is not defined",
                name,
            )
    sold_to = alpha_in(text_value(payload, "SoldToParty", 10))
    partner = ledger.partners.get(sold_to)
    problems = _sold_to_problems(sold_to, partner, org, channel, division)
    area = partner.sales_area(org, channel, division) if partner is not None else None
    currency = text_value(payload, "TransactionCurrency", 5) or (area.currency if area else "")
    terms = text_value(payload, "CustomerPaymentTerms", 4) or (area.payment_terms if area else "")
    if area is not None or currency:  # without a sales area there is no default to judge
        problems.extend(_header_problems(currency, terms))
    country = catalog.SALES_ORGANIZATIONS[org].country
    changed = ledger.now_us()
    items, item_problems, warnings = _items(payload, currency, country, changed)
    problems.extend(item_problems)
    if problems:
        raise SapError(400, problems)
    order = SalesOrder(
        number="",
        order_type=order_type,
        sales_organization=org,
        distribution_channel=channel,
        division=division,
        sold_to=sold_to,
        purchase_order=text_value(payload, "PurchaseOrderByCustomer", 35),
        gateway_ref=text_value(payload, "YY1_GatewayRef_SDH", 35),
        requested_delivery_ms=date_ms(
            payload.get("RequestedDeliveryDate"), "RequestedDeliveryDate"
        ),
        currency=currency,
        payment_terms=terms,
        created_ms=today_ms(),
        changed_us=changed,
        credit_blocked=False,
        credit_checked=False,
        items=items,
        warnings=warnings,
    )
    assert partner is not None  # no problems means the sold-to exists
    # The check stands in for SAP Credit Management, whose credit limit this simulator keeps
    # in the partner's custom field (a real tenant's limit lives in Credit Management).
    if credit_check and partner.credit_limit is not None:
        order.credit_checked = True
        order.credit_blocked = order.gross_amount > partner.credit_limit - _exposure(
            ledger, sold_to
        )
    return order


def create_order(ledger: Ledger, payload: dict[str, Any]) -> SalesOrder:
    order = priced_order(ledger, payload)
    order.number = ledger.next_number("sales_order")
    ledger.add_order(order)
    return order


def _sold_to_problems(
    sold_to: str, partner: BusinessPartner | None, org: str, channel: str, division: str
) -> list[ErrorDetail]:
    if not sold_to:
        return [ErrorDetail(MSG_MANDATORY, "Enter a sold-to party", "SoldToParty")]
    if partner is None or not partner.is_customer:
        return [
            ErrorDetail(
                MSG_SOLD_TO_UNKNOWN, f"Sold-to party {sold_to} does not exist", "SoldToParty"
            )
        ]
    if partner.sales_area(org, channel, division) is None:
        return [
            ErrorDetail(
                MSG_SOLD_TO_NOT_IN_SALES_AREA,
                f"Sold-to party {sold_to} is not defined for sales area {org}/{channel}/{division}",
                "SoldToParty",
            )
        ]
    return []


def _header_problems(currency: str, terms: str) -> list[ErrorDetail]:
    problems = []
    if currency not in catalog.CURRENCIES:
        problems.append(
            ErrorDetail(
                MSG_CURRENCY_INVALID, f"Currency '{currency}' is not defined", "TransactionCurrency"
            )
        )
    if terms and terms not in catalog.PAYMENT_TERMS:
        problems.append(
            ErrorDetail(
                MSG_PAYMENT_TERMS_UNKNOWN,
                f"Terms of payment {terms} are not defined",
                "CustomerPaymentTerms",
            )
        )
    return problems


def _items(
    payload: Mapping[str, Any], currency: str, country: str, changed: int
) -> tuple[list[SalesOrderItem], list[ErrorDetail], list[tuple[str, str, str]]]:
    """The priced items, the problems that refuse the order, and warnings that do not."""
    rows = inline_rows(payload, "to_Item")
    if not rows:
        return [], [ErrorDetail(MSG_MANDATORY, "Enter at least one item", "to_Item")], []
    items: list[SalesOrderItem] = []
    problems: list[ErrorDetail] = []
    warnings: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        raw_number = text_value(row, "SalesOrderItem", 6, "to_Item/SalesOrderItem")
        number = str(int(raw_number)) if raw_number.isdigit() else str((index + 1) * _ITEM_STEP)
        target = f"/to_Item({number})/"
        if number in seen:
            problems.append(
                ErrorDetail(
                    MSG_ITEM_DUPLICATE, f"Item {number} exists twice", target + "SalesOrderItem"
                )
            )
            continue
        seen.add(number)
        item, item_problems = _item(row, number, target, currency, country, changed)
        problems.extend(item_problems)
        if item is not None:
            items.append(item)
            warnings.extend(_availability(item, target))
    return items, problems, warnings


def _availability(item: SalesOrderItem, target: str) -> list[tuple[str, str, str]]:
    """A warning when the availability check confirms less than the requested quantity: the
    order is still taken, the rest confirmed later."""
    available = catalog.MATERIALS[item.material].available
    if available is None or item.quantity <= available:
        return []
    later = item.quantity - available
    return [
        (
            MSG_PARTLY_CONFIRMED,
            f"Only {available} {item.unit} of material {item.material} can be confirmed for the "
            f"requested delivery date; {later} {item.unit} will be confirmed later",
            target + "RequestedQuantity",
        )
    ]


def _item(
    row: Mapping[str, Any], number: str, target: str, currency: str, country: str, changed: int
) -> tuple[SalesOrderItem | None, list[ErrorDetail]]:
    problems: list[ErrorDetail] = []
    material_number = text_value(row, "Material", 40, target + "Material")
    material = catalog.MATERIALS.get(material_number)
    if material is None:
        problems.append(
            ErrorDetail(
                MSG_MATERIAL_UNKNOWN,
                f"Material {material_number} does not exist",
                target + "Material",
            )
        )
    quantity = decimal_value(row.get("RequestedQuantity"), target + "RequestedQuantity")
    if quantity <= 0 or quantity != quantity.quantize(_QUANTITY_PLACES):
        problems.append(
            ErrorDetail(
                MSG_QUANTITY_INVALID,
                f"Quantity {row.get('RequestedQuantity')} is not valid",
                target + "RequestedQuantity",
            )
        )
    unit = text_value(row, "RequestedQuantityUnit", 3, target + "RequestedQuantityUnit")
    if material is not None and unit and unit != material.unit:
        problems.append(
            ErrorDetail(
                MSG_QUANTITY_INVALID,
                f"Unit {unit} is not defined for material {material.number}",
                target + "RequestedQuantityUnit",
            )
        )
    expected, price_problems = _expected_price(row, target)
    problems.extend(price_problems)
    price = catalog.price_of(material, currency) if material is not None else None
    if material is not None and expected is not None and expected != price:
        problems.append(
            ErrorDetail(
                MSG_PRICE_MISMATCH,
                f"Customer expected price {expected} {currency} differs from the net price "
                f"{price} {currency} of material {material.number}",
                f"{target}to_PricingElement({catalog.EXPECTED_PRICE_CONDITION})/ConditionRateValue",
            )
        )
    if problems or material is None or price is None:
        return None, problems
    minor_unit = Decimal(1).scaleb(-catalog.currency_decimals(currency))
    net = (price * quantity).quantize(minor_unit, ROUND_HALF_UP)
    return (
        SalesOrderItem(
            number=number,
            material=material.number,
            description=material.description,
            quantity=quantity,
            unit=material.unit,
            net_price=price,
            expected_price=expected,
            net_amount=net,
            tax_amount=(net * catalog.OUTPUT_TAX_RATES[country]).quantize(
                minor_unit, ROUND_HALF_UP
            ),
            changed_us=changed,
        ),
        [],
    )


def _expected_price(
    row: Mapping[str, Any], target: str
) -> tuple[Decimal | None, list[ErrorDetail]]:
    """The EDI1 condition (customer expected price); other conditions cannot be entered by hand."""
    expected = None
    problems = []
    for condition in inline_rows(row, "to_PricingElement"):
        kind = text_value(condition, "ConditionType", 4, target + "to_PricingElement/ConditionType")
        condition_target = f"{target}to_PricingElement({kind})/ConditionRateValue"
        if kind != catalog.EXPECTED_PRICE_CONDITION:
            problems.append(
                ErrorDetail(
                    MSG_CONDITION_NOT_MANUAL,
                    f"Condition {kind} is not allowed as header or item condition entered manually",
                    condition_target,
                )
            )
            continue
        expected = decimal_value(condition.get("ConditionRateValue"), condition_target)
    return expected, problems


def _exposure(ledger: Ledger, sold_to: str) -> Decimal:
    """Open orders' value: released, not fully rejected, not yet paid."""
    exposure = Decimal("0.00")
    for number in ledger.orders_by_sold_to.get(sold_to, ()):
        order = ledger.orders[number]
        if not order.credit_blocked and not order.fully_rejected and order.stage != STAGES[-1]:
            exposure += order.gross_amount
    return exposure


def reject_item(
    ledger: Ledger, order: SalesOrder, item: SalesOrderItem, payload: dict[str, Any]
) -> None:
    """Set or clear an item's reason for rejection. The item has no ETag of its own (only the
    header has one), so no If-Match is asked for; SAP locks the order while it changes."""
    for name, value in payload.items():
        unchanged = {"SalesOrder": order.number, "SalesOrderItem": item.number}
        if (
            name != "SalesDocumentRjcnReason"
            and name != "__metadata"
            and unchanged.get(name) != value
        ):
            raise bad_request(MSG_CHANGE_NOT_ALLOWED, f"Field {name} cannot be changed", name)
    reason = text_value(payload, "SalesDocumentRjcnReason", 2)
    if reason and reason not in catalog.REJECTION_REASONS:
        raise bad_request(
            MSG_REJECTION_REASON_UNKNOWN,
            f"Reason for rejection {reason} is not defined",
            "SalesDocumentRjcnReason",
        )
    follow_on = order.deliveries + order.billing_documents
    if follow_on:
        raise bad_request(
            MSG_FOLLOW_ON_DOCUMENTS,
            f"Item {item.number} of sales order {order.number} cannot be rejected: "
            f"subsequent document {follow_on[0]} exists",
            "SalesDocumentRjcnReason",
        )
    item.rejection_reason = reason
    item.changed_us = order.changed_us = ledger.now_us()


# --- entities ---------------------------------------------------------------------------------


def _delivered(order: SalesOrder) -> bool:
    """Whether the order's delivery exists: SAP counts an order delivered once the delivery
    document is created for its quantity, goods issued or not (that is the delivery's status)."""
    return order.stage != "accepted"


def _statuses(order: SalesOrder) -> dict[str, str]:
    rejected = sum(item.rejected for item in order.items)
    all_rejected = rejected == len(order.items)
    delivered = _delivered(order)
    delivery = "C" if delivered else "A"
    credit = "" if not order.credit_checked else ("B" if order.credit_blocked else "A")
    return {
        # A: open, C: completed. Delivery-related billing is tracked on the delivery, so the
        # order is complete once delivered (or rejected).
        "OverallSDProcessStatus": "C" if all_rejected or delivered else "A",
        "OverallTotalDeliveryStatus": delivery,
        "OverallDeliveryStatus": delivery,
        "OverallOrdReltdBillgStatus": "",  # billing follows the delivery, not the order
        "TotalCreditCheckStatus": credit,
        "OverallSDDocumentRejectionSts": "A" if not rejected else ("C" if all_rejected else "B"),
        "TotalBlockStatus": "B" if order.credit_blocked else "",
        "DeliveryBlockReason": "",
        "HeaderBillingBlockReason": "",
    }


def _header_properties(order: SalesOrder) -> dict[str, Any]:
    """The order header's properties; each service's entity type declares which it shows (the
    simulation's, for one, has no totals and no statuses)."""
    return {
        "SalesOrder": order.number,
        "SalesOrderType": order.order_type,
        "SalesOrganization": order.sales_organization,
        "DistributionChannel": order.distribution_channel,
        "OrganizationDivision": order.division,
        "SoldToParty": order.sold_to,
        "PurchaseOrderByCustomer": order.purchase_order,
        "YY1_GatewayRef_SDH": order.gateway_ref,
        "CreationDate": edm_datetime(order.created_ms),
        "SalesOrderDate": edm_datetime(order.created_ms),
        "PricingDate": edm_datetime(order.created_ms),
        "LastChangeDateTime": edm_datetimeoffset(order.changed_us),
        "RequestedDeliveryDate": edm_datetime(order.requested_delivery_ms),
        "TransactionCurrency": order.currency,
        "CustomerPaymentTerms": order.payment_terms,
        "TotalNetAmount": edm_amount(order.net_amount, order.currency),
    }


def order_node(order: SalesOrder) -> Node:
    properties = {**_header_properties(order), **_statuses(order)}
    return Node(
        path="A_SalesOrder" + key_text(SalesOrder=order.number),
        type_name=f"{SERVICE}.A_SalesOrderType",
        properties=properties,
        navigation={"to_Item": lambda: [item_node(order, item) for item in order.items]},
        etag=etag_of(order.changed_us),
    )


def item_node(order: SalesOrder, item: SalesOrderItem) -> Node:
    keys = {"SalesOrder": order.number, "SalesOrderItem": item.number}
    delivered = _delivered(order)
    return Node(
        path="A_SalesOrderItem" + key_text(**keys),
        type_name=f"{SERVICE}.A_SalesOrderItemType",
        properties={
            **keys,
            **_item_properties(order, item),
            "SDProcessStatus": "C" if item.rejected or delivered else "A",
            "DeliveryStatus": "" if item.rejected else ("C" if delivered else "A"),
            "ItemBillingBlockReason": "",
        },
        navigation={
            "to_PricingElement": lambda: _pricing_nodes(
                order, item, SERVICE, "A_SalesOrderItemPrElement"
            )
        },
    )


def _item_properties(order: SalesOrder, item: SalesOrderItem) -> dict[str, Any]:
    return {
        "SalesOrderItemCategory": "TAN",
        "SalesOrderItemText": item.description,
        "Material": item.material,
        "RequestedQuantity": edm_decimal(item.quantity, 3),
        "RequestedQuantityUnit": item.unit,
        "NetAmount": edm_amount(item.net_amount, order.currency),
        "TaxAmount": edm_amount(item.tax_amount, order.currency),
        "TransactionCurrency": order.currency,
        "SalesDocumentRjcnReason": item.rejection_reason,
    }


def _pricing_nodes(
    order: SalesOrder, item: SalesOrderItem, namespace: str, entity_set: str
) -> list[Node]:
    conditions: list[tuple[str, str, Decimal, Decimal]] = [
        (
            catalog.NET_PRICE_CONDITION,
            catalog.PRICE_CONDITION_CLASS,
            item.net_price,
            item.net_amount,
        ),
        (catalog.OUTPUT_TAX_CONDITION, catalog.TAX_CONDITION_CLASS, Decimal("0"), item.tax_amount),
    ]
    if item.expected_price is not None:
        conditions.insert(
            0,
            (
                catalog.EXPECTED_PRICE_CONDITION,
                catalog.PRICE_CONDITION_CLASS,
                item.expected_price,
                item.net_amount,
            ),
        )
    nodes = []
    for counter, (condition, kind, rate, amount) in enumerate(conditions, 1):
        keys = {
            "SalesOrder": order.number,
            "SalesOrderItem": item.number,
            "PricingProcedureStep": str(counter * 10),
            "PricingProcedureCounter": "1",
        }
        nodes.append(
            Node(
                path=entity_set + key_text(**keys),
                type_name=f"{namespace}.{entity_set}Type",
                properties={
                    **keys,
                    "ConditionType": condition,
                    "ConditionRateValue": edm_amount(rate, order.currency),
                    "ConditionCurrency": order.currency,
                    "ConditionAmount": edm_amount(amount, order.currency),
                    "ConditionClass": kind,
                    # The customer's expected price only checks the price; it prices nothing.
                    "ConditionIsForStatistics": condition == catalog.EXPECTED_PRICE_CONDITION,
                    "TransactionCurrency": order.currency,
                },
            )
        )
    return nodes


def _warnings(order: SalesOrder) -> list[ErrorDetail]:
    return [ErrorDetail(code, text, target, "warning") for code, text, target in order.warnings]


def entity_sets(ledger: Ledger) -> dict[str, EntitySet]:
    def order(key: Mapping[str, str]) -> SalesOrder | None:
        return ledger.orders.get(key["SalesOrder"])

    def item(key: Mapping[str, str]) -> tuple[SalesOrder, SalesOrderItem] | None:
        found = order(key)
        line = (
            found.item(str(int(key["SalesOrderItem"])))
            if found and key["SalesOrderItem"].isdigit()
            else None
        )
        return (found, line) if found is not None and line is not None else None

    def by_gateway_ref(ref: str) -> list[SalesOrder]:
        return [ledger.orders[n] for n in ledger.orders_by_ref.get(ref, ())]

    def by_sold_to(sold_to: str) -> list[SalesOrder]:
        return [ledger.orders[n] for n in ledger.orders_by_sold_to.get(sold_to, ())]

    def create(payload: dict[str, Any]) -> Node:
        created = create_order(ledger, payload)
        node = order_node(created)
        node.warnings = _warnings(created)
        return node

    def update(row: tuple[SalesOrder, SalesOrderItem], payload: dict[str, Any]) -> Node:
        reject_item(ledger, row[0], row[1], payload)
        return item_node(*row)

    return {
        "A_SalesOrder": EntitySet(
            keys=("SalesOrder",),
            read_operation=operations.SALES_ORDERS_READ,
            rows=lambda: ledger.orders.values(),
            lookup=order,
            node=order_node,
            indexed={"YY1_GatewayRef_SDH": by_gateway_ref, "SoldToParty": by_sold_to},
            create=create,
            create_operation=operations.SALES_ORDERS_CREATE,
        ),
        "A_SalesOrderItem": EntitySet(
            keys=("SalesOrder", "SalesOrderItem"),
            read_operation=operations.SALES_ORDERS_READ,
            rows=lambda: ((o, i) for o in ledger.orders.values() for i in o.items),
            lookup=item,
            node=lambda row: item_node(*row),
            indexed={
                "SalesOrder": lambda n: [
                    (o, i) for o in [ledger.orders.get(n)] if o for i in o.items
                ]
            },
            update=update,
            update_operation=operations.SALES_ORDERS_CANCEL,
        ),
    }


# --- the simulation ---------------------------------------------------------------------------

PRICING = "to_Pricing"
CREDIT = "to_Credit"


def simulation_node(order: SalesOrder, *, pricing: bool, credit: bool) -> Node:
    """A_SalesOrderSimulation as SAP answers it: the header without totals or credit status;
    those come under to_Pricing and to_Credit, and only when the request asked for them (an
    empty object each). Without to_Pricing the items carry no prices."""
    navigation: dict[str, Any] = {
        "to_Item": lambda: [_simulated_item(order, i, pricing=pricing) for i in order.items]
    }
    if pricing:
        navigation[PRICING] = lambda: Node(
            path="A_SalesOrderPricingSimulation" + key_text(SalesOrder=order.number),
            type_name=f"{SIMULATION_SERVICE}.A_SalesOrderPricingSimulationType",
            properties={
                "SalesOrder": order.number,
                "TotalNetAmount": edm_amount(order.net_amount, order.currency),
                "TransactionCurrency": order.currency,
            },
        )
    if credit:
        status = "B" if order.credit_blocked else "A"
        navigation[CREDIT] = lambda: Node(
            path="A_SalesOrderCreditSimulation" + key_text(SalesOrder=order.number),
            type_name=f"{SIMULATION_SERVICE}.A_SalesOrderCreditSimulationType",
            properties={"SalesOrder": order.number, "TotalCreditCheckStatus": status},
        )
    return Node(
        path="A_SalesOrderSimulation" + key_text(SalesOrder=order.number),
        type_name=f"{SIMULATION_SERVICE}.A_SalesOrderSimulationType",
        properties=_header_properties(order),
        navigation=navigation,
        warnings=_warnings(order),
    )


def _simulated_item(order: SalesOrder, item: SalesOrderItem, *, pricing: bool) -> Node:
    keys = {"SalesOrder": order.number, "SalesOrderItem": item.number}
    properties = {**keys, **_item_properties(order, item)}
    if not pricing:
        nothing = edm_amount(Decimal("0"), order.currency)
        properties.update(NetAmount=nothing, TaxAmount=nothing)
    return Node(
        path="A_SalesOrderItemSimulation" + key_text(**keys),
        type_name=f"{SIMULATION_SERVICE}.A_SalesOrderItemSimulationType",
        properties=properties,
        navigation={
            "to_PricingElement": lambda: (
                _pricing_nodes(order, item, SIMULATION_SERVICE, "A_SalesOrderItmPrcgElmntSimln")
                if pricing
                else []
            )
        },
    )


def simulation_sets(ledger: Ledger) -> dict[str, EntitySet]:
    """A_SalesOrderSimulation: POST an order, get it priced and credit-checked, nothing saved."""

    def simulate(payload: dict[str, Any]) -> Node:
        credit = CREDIT in payload
        order = priced_order(ledger, payload, credit_check=credit)
        return simulation_node(order, pricing=PRICING in payload, credit=credit)

    return {
        "A_SalesOrderSimulation": EntitySet(
            keys=("SalesOrder",),
            read_operation=operations.QUOTES_VALIDATE,
            rows=lambda: (),
            lookup=lambda key: None,
            node=lambda order: simulation_node(order, pricing=True, credit=True),
            create=simulate,
            create_operation=operations.QUOTES_VALIDATE,
        )
    }

"""API_OUTBOUND_DELIVERY_SRV and API_BILLING_DOCUMENT_SRV, and how orders move through them.

Not order entry (see `sales`): deliveries and billing documents only follow released orders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from erp_simulators.sap import catalog, operations
from erp_simulators.sap.odata import (
    EntitySet,
    Node,
    edm_amount,
    edm_datetime,
    edm_datetimeoffset,
    edm_decimal,
    etag_of,
    key_text,
)
from erp_simulators.sap.records import (
    STAGES,
    BillingDocument,
    BillingItem,
    Delivery,
    DeliveryItem,
    Ledger,
    SalesOrder,
    today_ms,
)

DELIVERY_SERVICE = "API_OUTBOUND_DELIVERY_SRV"
BILLING_SERVICE = "API_BILLING_DOCUMENT_SRV"


def movable(order: SalesOrder) -> bool:
    """Only released orders move: not credit-blocked and not fully rejected."""
    return not order.credit_blocked and not order.fully_rejected


def advance(ledger: Ledger, to: str | None, sales_order: str | None) -> list[dict[str, str]]:
    """Move orders forward (one stage, or up to `to`); each change names the document it made."""
    if sales_order is not None:
        orders = [ledger.orders[sales_order]] if sales_order in ledger.orders else []
    else:
        orders = list(ledger.orders.values())
    changes: list[dict[str, str]] = []
    for order in orders:
        if not movable(order):
            continue
        current = STAGES.index(order.stage)
        target = STAGES.index(to) if to is not None else min(current + 1, len(STAGES) - 1)
        while current < target:
            current += 1
            document = _enter_stage(ledger, order, STAGES[current])
            changes.append(
                {
                    "sales_order": order.number,
                    "from": order.stage,
                    "to": STAGES[current],
                    "document": document,
                }
            )
            order.stage = STAGES[current]
            order.changed_us = ledger.now_us()
    return changes


def _enter_stage(ledger: Ledger, order: SalesOrder, stage: str) -> str:
    if stage == "in_fulfillment":
        return _create_delivery(ledger, order).number
    if stage == "shipped":
        for number in order.deliveries:
            delivery = ledger.deliveries[number]
            if delivery.goods_issue_ms is None:
                delivery.goods_issue_ms = today_ms()
                delivery.version += 1
        return order.deliveries[-1]
    if stage == "invoiced":
        return _create_billing_document(ledger, order).number
    for number in order.billing_documents:
        document = ledger.billing_documents[number]
        document.cleared = True
        document.changed_us = ledger.now_us()
    return order.billing_documents[-1]


def _create_delivery(ledger: Ledger, order: SalesOrder) -> Delivery:
    number = ledger.next_number("delivery")
    items = [
        DeliveryItem(
            number=str((n + 1) * 10),
            material=item.material,
            quantity=item.quantity,
            unit=item.unit,
            sales_order=order.number,
            sales_order_item=item.number,
        )
        for n, item in enumerate(order.open_items())
    ]
    delivery = Delivery(
        number=number,
        sold_to=order.sold_to,
        shipping_point=order.sales_organization,
        created_ms=today_ms(),
        planned_goods_issue_ms=order.requested_delivery_ms or today_ms(),
        goods_issue_ms=None,
        items=items,
    )
    ledger.deliveries[number] = delivery
    order.deliveries.append(number)
    return delivery


def _create_billing_document(ledger: Ledger, order: SalesOrder) -> BillingDocument:
    number = ledger.next_number("billing_document")
    items: list[BillingItem] = []
    for delivery_number in order.deliveries:
        for delivered in ledger.deliveries[delivery_number].items:
            ordered = order.item(delivered.sales_order_item)
            assert ordered is not None
            items.append(
                BillingItem(
                    number=str((len(items) + 1) * 10),
                    material=delivered.material,
                    quantity=delivered.quantity,
                    unit=delivered.unit,
                    net_amount=ordered.net_amount,
                    tax_amount=ordered.tax_amount,
                    sales_order=order.number,
                    sales_order_item=ordered.number,
                    delivery=delivery_number,
                    delivery_item=delivered.number,
                )
            )
    document = BillingDocument(
        number=number,
        sold_to=order.sold_to,
        company_code=catalog.SALES_ORGANIZATIONS[order.sales_organization].code,
        sales_organization=order.sales_organization,
        currency=order.currency,
        payment_terms=order.payment_terms,
        billing_date_ms=today_ms(),
        items=items,
        changed_us=ledger.now_us(),
    )
    ledger.billing_documents[number] = document
    order.billing_documents.append(number)
    return document


# --- entities ---------------------------------------------------------------------------------


def delivery_node(delivery: Delivery) -> Node:
    issued = delivery.goods_issue_ms is not None
    return Node(
        path="A_OutbDeliveryHeader" + key_text(DeliveryDocument=delivery.number),
        type_name=DELIVERY_SERVICE + ".A_OutbDeliveryHeaderType",
        properties={
            "DeliveryDocument": delivery.number,
            "DeliveryDocumentType": "LF",
            "SDDocumentCategory": "J",
            "SoldToParty": delivery.sold_to,
            "ShipToParty": delivery.sold_to,
            "ShippingPoint": delivery.shipping_point,
            "CreationDate": edm_datetime(delivery.created_ms),
            "DeliveryDate": edm_datetime(delivery.planned_goods_issue_ms),
            "PlannedGoodsIssueDate": edm_datetime(delivery.planned_goods_issue_ms),
            "ActualGoodsMovementDate": edm_datetime(delivery.goods_issue_ms),
            "SalesOrganization": delivery.shipping_point,
            "OverallPickingStatus": "C",
            "OverallGoodsMovementStatus": "C" if issued else "A",
            "OverallSDProcessStatus": "C" if issued else "A",
            "DeliveryVersion": _version(delivery),
        },
        navigation={
            "to_DeliveryDocumentItem": lambda: [
                delivery_item_node(delivery, item) for item in delivery.items
            ]
        },
        etag=_version_etag(delivery),
    )


def _version(delivery: Delivery) -> str:
    return f"{delivery.version:04d}"


def _version_etag(delivery: Delivery) -> str:
    """The delivery's ETag, from its DeliveryVersion (header and items share it)."""
    return f"W/\"'{_version(delivery)}'\""


def delivery_item_node(delivery: Delivery, item: DeliveryItem) -> Node:
    keys = {"DeliveryDocument": delivery.number, "DeliveryDocumentItem": item.number}
    return Node(
        path="A_OutbDeliveryItem" + key_text(**keys),
        type_name=DELIVERY_SERVICE + ".A_OutbDeliveryItemType",
        properties={
            **keys,
            "Material": item.material,
            "ActualDeliveryQuantity": edm_decimal(item.quantity, 3),
            "DeliveryQuantityUnit": item.unit,
            "ReferenceSDDocument": item.sales_order,
            "ReferenceSDDocumentItem": item.sales_order_item,
            "ReferenceSDDocumentCategory": "C",
            "GoodsMovementStatus": "C" if delivery.goods_issue_ms is not None else "A",
            "DeliveryVersion": _version(delivery),
        },
        etag=_version_etag(delivery),
    )


def billing_node(document: BillingDocument) -> Node:
    return Node(
        path="A_BillingDocument" + key_text(BillingDocument=document.number),
        type_name=BILLING_SERVICE + ".A_BillingDocumentType",
        properties={
            "BillingDocument": document.number,
            "BillingDocumentType": "F2",
            "SDDocumentCategory": "M",
            "CreationDate": edm_datetime(document.billing_date_ms),
            "BillingDocumentDate": edm_datetime(document.billing_date_ms),
            "SalesOrganization": document.sales_organization,
            "CompanyCode": document.company_code,
            "SoldToParty": document.sold_to,
            "PayerParty": document.sold_to,
            "TransactionCurrency": document.currency,
            "CustomerPaymentTerms": document.payment_terms,
            "TotalNetAmount": edm_amount(document.net_amount, document.currency),
            "TaxAmount": edm_amount(document.tax_amount, document.currency),
            "TotalGrossAmount": edm_amount(
                document.net_amount + document.tax_amount, document.currency
            ),
            "AccountingPostingStatus": "C",
            "BillingDocumentIsCancelled": document.cancelled,
            # A: open item in receivables, C: cleared by an incoming payment.
            "InvoiceClearingStatus": "C" if document.cleared else "A",
            "LastChangeDateTime": edm_datetimeoffset(document.changed_us),
        },
        navigation={"to_Item": lambda: [billing_item_node(document, i) for i in document.items]},
        etag=etag_of(document.changed_us),
    )


def billing_item_node(document: BillingDocument, item: BillingItem) -> Node:
    keys = {"BillingDocument": document.number, "BillingDocumentItem": item.number}
    return Node(
        path="A_BillingDocumentItem" + key_text(**keys),
        type_name=BILLING_SERVICE + ".A_BillingDocumentItemType",
        properties={
            **keys,
            "Material": item.material,
            "BillingQuantity": edm_decimal(item.quantity, 3),
            "BillingQuantityUnit": item.unit,
            "NetAmount": edm_amount(item.net_amount, document.currency),
            "TaxAmount": edm_amount(item.tax_amount, document.currency),
            "GrossAmount": edm_amount(item.net_amount + item.tax_amount, document.currency),
            "TransactionCurrency": document.currency,
            "SalesDocument": item.sales_order,
            "SalesDocumentItem": item.sales_order_item,
            "ReferenceSDDocument": item.delivery,
            "ReferenceSDDocumentItem": item.delivery_item,
            "ReferenceSDDocumentCategory": "J",
        },
    )


def delivery_sets(ledger: Ledger) -> dict[str, EntitySet]:
    return _document_sets(
        ledger.deliveries,
        lambda order: order.deliveries,
        header=("A_OutbDeliveryHeader", "DeliveryDocument", delivery_node),
        item=("A_OutbDeliveryItem", "DeliveryDocumentItem", delivery_item_node),
        order_field="ReferenceSDDocument",
        read_operation=operations.SHIPMENTS_READ,
        orders=ledger.orders,
    )


def billing_sets(ledger: Ledger) -> dict[str, EntitySet]:
    return _document_sets(
        ledger.billing_documents,
        lambda order: order.billing_documents,
        header=("A_BillingDocument", "BillingDocument", billing_node),
        item=("A_BillingDocumentItem", "BillingDocumentItem", billing_item_node),
        order_field="SalesDocument",
        read_operation=operations.INVOICES_READ,
        orders=ledger.orders,
    )


def _document_sets(
    documents: Mapping[str, Any],
    numbers_of: Callable[[Any], list[str]],
    *,
    header: tuple[str, str, Callable[[Any], Node]],
    item: tuple[str, str, Callable[[Any, Any], Node]],
    order_field: str,
    read_operation: str,
    orders: Mapping[str, Any],
) -> dict[str, EntitySet]:
    """The header and item entity sets of a follow-on document (delivery or billing document),
    the items also indexed by the sales order they reference."""
    header_set, header_key, header_node = header
    item_set, item_key, item_node = item

    def items_of_order(order_number: str) -> list[tuple[Any, Any]]:
        order = orders.get(order_number)
        found = [documents[n] for n in numbers_of(order)] if order else []
        return [(d, i) for d in found for i in d.items]

    def item_row(key: Mapping[str, str]) -> tuple[Any, Any] | None:
        document = documents.get(key[header_key])
        if document is None:
            return None
        for line in document.items:
            if line.number == key[item_key]:
                return document, line
        return None

    return {
        header_set: EntitySet(
            keys=(header_key,),
            read_operation=read_operation,
            rows=lambda: documents.values(),
            lookup=lambda key: documents.get(key[header_key]),
            node=header_node,
        ),
        item_set: EntitySet(
            keys=(header_key, item_key),
            read_operation=read_operation,
            rows=lambda: ((d, i) for d in documents.values() for i in d.items),
            lookup=item_row,
            node=lambda row: item_node(*row),
            indexed={order_field: items_of_order},
        ),
    }

"""Where things live in SAP: the OData services and entity sets the adapter calls, the custom
fields it uses, and the fixed values SAP expects (roles, condition types, reasons).

Not how to call them (see `client.py`, `adapter.py`).
"""

from __future__ import annotations

ODATA_ROOT = "/sap/opu/odata/sap"
BP_SERVICE = ODATA_ROOT + "/API_BUSINESS_PARTNER"
SALES_ORDER_SERVICE = ODATA_ROOT + "/API_SALES_ORDER_SRV"
SIMULATION_SERVICE = ODATA_ROOT + "/API_SALES_ORDER_SIMULATION_SRV"
DELIVERY_SERVICE = ODATA_ROOT + "/API_OUTBOUND_DELIVERY_SRV"
BILLING_SERVICE = ODATA_ROOT + "/API_BILLING_DOCUMENT_SRV"
BUSINESS_PARTNERS = BP_SERVICE + "/A_BusinessPartner"
SALES_ORDERS = SALES_ORDER_SERVICE + "/A_SalesOrder"
SALES_ORDER_ITEMS = SALES_ORDER_SERVICE + "/A_SalesOrderItem"
SIMULATIONS = SIMULATION_SERVICE + "/A_SalesOrderSimulation"
DELIVERIES = DELIVERY_SERVICE + "/A_OutbDeliveryHeader"
DELIVERY_ITEMS = DELIVERY_SERVICE + "/A_OutbDeliveryItem"
BILLING_DOCUMENTS = BILLING_SERVICE + "/A_BillingDocument"
BILLING_ITEMS = BILLING_SERVICE + "/A_BillingDocumentItem"
CUSTOMER_EXPAND = (
    "to_BusinessPartnerAddress/to_EmailAddress,to_BusinessPartnerTax,"
    "to_Customer/to_CustomerCompany,to_Customer/to_CustomerSalesArea"
)
ORDER_EXPAND = "to_Item"
DELIVERY_EXPAND = "to_DeliveryDocumentItem"
BILLING_EXPAND = "to_Item"
GATEWAY_REF_FIELD = "YY1_GatewayRef_SDH"  # custom field on BP and sales order header
CREDIT_LIMIT_FIELD = "YY1_CreditLimit_bus"  # custom field on the BP, in the customer's currency
ORGANIZATION = "2"  # BusinessPartnerCategory
CUSTOMER_ROLES = ("FLCU00", "FLCU01")  # FI customer (company code data), SD customer (sales)
NAME_PART_LENGTH = 40  # OrganizationBPName1/2
EXPECTED_PRICE_CONDITION = "EDI1"  # customer expected price: SAP checks it against its price
CANCEL_REJECTION_REASON = "10"  # the reason for rejection the gateway sets when cancelling
ITEM_STEP = 10  # line i is item (i + 1) * 10

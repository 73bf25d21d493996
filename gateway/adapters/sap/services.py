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
COMPANY_CODES = ODATA_ROOT + "/API_COMPANYCODE_SRV/A_CompanyCode"
SALES_ORGANIZATIONS = ODATA_ROOT + "/API_SALESORGANIZATION_SRV/A_SalesOrganization"
PRODUCTS = ODATA_ROOT + "/API_PRODUCT_SRV/A_Product"
METADATA = "/$metadata"
GATEWAY_REF_FIELD = "YY1_GatewayRef_SDH"  # custom field on BP and sales order header
CREDIT_LIMIT_FIELD = "YY1_CreditLimit_bus"  # custom field on the BP, in the customer's currency
# An organization's name: four fields of NAME_PART_LENGTH characters each (see `names.py`).
NAME_FIELDS = tuple(f"OrganizationBPName{n}" for n in range(1, 5))
NAME_PART_LENGTH = 40

# What each read asks for: `$expand` the navigations the mapping reads, `$select` exactly the
# properties it reads (smaller answers). Only properties every release of the services has:
# a `$select` naming one a release lacks is refused by that release (OverallDeliveryStatus and
# item TaxAmount, say, are newer; the mapping reads them only when they come unasked).
CUSTOMER_EXPAND = (
    "to_BusinessPartnerAddress/to_EmailAddress,to_BusinessPartnerTax,"
    "to_Customer/to_CustomerCompany,to_Customer/to_CustomerSalesArea"
)
CUSTOMER_SELECT = ",".join(
    (
        "BusinessPartner",
        "BusinessPartnerCategory",
        *NAME_FIELDS,
        "BusinessPartnerFullName",
        "SearchTerm1",
        "BusinessPartnerIDByExtSystem",
        "BusinessPartnerIsBlocked",
        GATEWAY_REF_FIELD,
        CREDIT_LIMIT_FIELD,
        *(
            "to_BusinessPartnerAddress/" + name
            for name in (
                "StreetName",
                "StreetSuffixName",
                "CityName",
                "PostalCode",
                "Region",
                "Country",
                "to_EmailAddress/EmailAddress",
            )
        ),
        "to_BusinessPartnerTax/BPTaxNumber",
        "to_Customer/to_CustomerCompany/CompanyCode",
        "to_Customer/to_CustomerCompany/PaymentTerms",
        "to_Customer/to_CustomerSalesArea/SalesOrganization",
        "to_Customer/to_CustomerSalesArea/Currency",
        "to_Customer/to_CustomerSalesArea/CustomerPaymentTerms",
    )
)
ORDER_EXPAND = "to_Item/to_PricingElement"
ORDER_SELECT = ",".join(
    (
        "SalesOrder",
        "SoldToParty",
        "TransactionCurrency",
        "TotalNetAmount",
        "RequestedDeliveryDate",
        "PurchaseOrderByCustomer",
        GATEWAY_REF_FIELD,
        "OverallSDDocumentRejectionSts",
        "OverallTotalDeliveryStatus",
        "TotalCreditCheckStatus",
        "DeliveryBlockReason",
        *(
            "to_Item/" + name
            for name in (
                "SalesOrderItem",
                "Material",
                "RequestedQuantity",
                "NetAmount",
                "SalesDocumentRjcnReason",
                "to_PricingElement/ConditionClass",
                "to_PricingElement/ConditionAmount",
                "to_PricingElement/ConditionIsForStatistics",
            )
        ),
    )
)
DELIVERY_EXPAND = "to_DeliveryDocumentItem"
DELIVERY_SELECT = ",".join(
    (
        "DeliveryDocument",
        "OverallGoodsMovementStatus",
        "ActualGoodsMovementDate",
        "to_DeliveryDocumentItem/ReferenceSDDocument",
        "to_DeliveryDocumentItem/Material",
        "to_DeliveryDocumentItem/ActualDeliveryQuantity",
    )
)
DELIVERY_ITEM_SELECT = "DeliveryDocument,GoodsMovementStatus"
BILLING_EXPAND = "to_Item"
BILLING_SELECT = ",".join(
    (
        "BillingDocument",
        "BillingDocumentIsCancelled",
        "InvoiceClearingStatus",
        "TransactionCurrency",
        "TotalNetAmount",
        "TaxAmount",
        "TotalGrossAmount",
        "BillingDocumentDate",
        "to_Item/SalesDocument",
    )
)
BILLING_ITEM_SELECT = "BillingDocument"
# The simulation prices and credit-checks only what the request asks for with these (empty).
SIMULATE_PRICING = "to_Pricing"
SIMULATE_CREDIT = "to_Credit"
TAX_CONDITION_CLASS = "D"  # a pricing element of this class is a tax
ORGANIZATION = "2"  # BusinessPartnerCategory
CUSTOMER_ROLES = ("FLCU00", "FLCU01")  # FI customer (company code data), SD customer (sales)
EXPECTED_PRICE_CONDITION = "EDI1"  # customer expected price: SAP checks it against its price
CANCEL_REJECTION_REASON = "10"  # the reason for rejection the gateway sets when cancelling
ITEM_STEP = 10  # line i is item (i + 1) * 10
MAX_PAGES = 50  # server-side pages one read follows (__next) before it gives up

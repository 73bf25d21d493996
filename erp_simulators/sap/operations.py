"""The operation labels of the legacy ERP's requests, as the shared fault control knows them.

Not the gateway's operations: these only say which requests a `/_sim/faults` entry perturbs.
"""

from __future__ import annotations

AUTH = "auth"  # CSRF token fetch, service documents
CUSTOMERS_CREATE = "customers.create"
CUSTOMERS_READ = "customers.read"
SALES_ORDERS_CREATE = "sales_orders.create"
SALES_ORDERS_READ = "sales_orders.read"
SALES_ORDERS_CANCEL = "sales_orders.cancel"  # PATCH/MERGE of an item's rejection reason
QUOTES_VALIDATE = "quotes.validate"  # the sales order simulation
SHIPMENTS_READ = "shipments.read"
INVOICES_READ = "invoices.read"

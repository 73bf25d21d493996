"""The legacy ERP simulator: SAP S/4HANA-style OData v2 services, written from SAP's API docs.

Not the gateway's adapter (`gateway.adapters.sap_odata`): the two share no code on purpose.
"""

from erp_simulators.sap.app import create_app, main

__all__ = ["create_app", "main"]

"""The legacy ERP simulator: SAP S/4HANA-style OData v2 services, written from SAP's API docs
and checked against SAP's published service metadata (see `schema`).

Not the gateway's adapter (`gateway.adapters.sap`): the two share no code on purpose.
"""

from erp_simulators.sap.app import SimOptions, add_options, create_app, main, options_from
from erp_simulators.sap.edm import Release

__all__ = ["Release", "SimOptions", "add_options", "create_app", "main", "options_from"]

"""The legacy ERP's adapter: SAP S/4HANA OData v2 (Basic auth, CSRF session, deep inserts).

`adapter.py` is the entry; `client.py` the HTTP mechanics; `outbound.py`, `inbound.py` and
`errors.py` the pure mappings; `services.py`, `odata.py` and `value_maps.py` what they share.
"""

from gateway.adapters.sap.adapter import SapODataAdapter, build_sap_adapter

__all__ = ["SapODataAdapter", "build_sap_adapter"]

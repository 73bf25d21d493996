"""The cloud ERP's adapter: NetSuite REST records (OAuth 2.0 tokens, 204 + Location creates).

`adapter.py` is the entry; `client.py` and `tokens.py` the HTTP mechanics; `outbound.py`,
`inbound.py`, `quotes.py` and `errors.py` the pure mappings; `records.py`, `fields.py` and
`value_maps.py` what they share.
"""

from gateway.adapters.netsuite.adapter import NetSuiteRestAdapter, build_netsuite_adapter

__all__ = ["NetSuiteRestAdapter", "build_netsuite_adapter"]

"""The cloud ERP's adapter: NetSuite REST records (OAuth 2.0 client credentials with a
certificate, or token-based authentication; 204 + Location creates).

`adapter.py` is the entry; `client.py`, `auth.py`, `tokens.py` (with `assertions.py`),
`oauth1.py` and `credentials.py` the HTTP and login mechanics; `outbound.py`, `inbound.py`,
`quotes.py`, `cancellation.py`, `errors.py` and `messages.py` the pure mappings; `records.py`,
`fields.py` and `value_maps.py` what they share; `doctor.py` the account's checks.
"""

from gateway.adapters.netsuite.adapter import NetSuiteRestAdapter, build_netsuite_adapter
from gateway.adapters.netsuite.doctor import Check, diagnose

__all__ = ["Check", "NetSuiteRestAdapter", "build_netsuite_adapter", "diagnose"]

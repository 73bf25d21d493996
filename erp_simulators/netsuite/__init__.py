"""The cloud ERP simulator: NetSuite-style REST records, NetSuite's logins (OAuth 2.0 client
credentials with certificates, token-based authentication) and `/_sim` controls.

Not the gateway's adapter (see `gateway.adapters.netsuite`): an independent implementation.
"""

from erp_simulators.netsuite.app import create_app, main

__all__ = ["create_app", "main"]

"""The cloud ERP simulator: NetSuite-style REST records, OAuth 2.0 tokens and `/_sim` controls.

Not the gateway's adapter (see `gateway.adapters.netsuite_rest`): an independent implementation.
"""

from erp_simulators.netsuite.app import create_app, main

__all__ = ["create_app", "main"]

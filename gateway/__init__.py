"""ERP coexistence gateway: one stable domain API over a legacy and a cloud ERP.

The package is organised by concept; `gateway.app.build_app` is where the pieces meet.
"""

__version__ = "0.1.0"

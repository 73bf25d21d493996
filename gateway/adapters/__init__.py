"""ERP adapters: one per ERP kind, translating canonical requests to that ERP's API and back.

Each adapter is pure translation plus one ERP client; routing and the xref live elsewhere.
"""

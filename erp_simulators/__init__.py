"""Simulators of the two ERPs, for the demo, the tests and the benchmark: a SAP S/4HANA-style
OData v2 system (`sap`) and a NetSuite-style REST account (`netsuite`).

A package of its own beside `gateway`, in the same distribution: each simulator is an independent
implementation of its ERP's API, written from that API's documentation, and imports nothing of
the gateway (a test enforces it), so a mapping mistake cannot hide by standing on both sides.
"""

"""Simulators of the two ERPs, for the demo, the tests and the benchmark.

Each is an independent implementation of its ERP's API; none imports the gateway's own code.
"""

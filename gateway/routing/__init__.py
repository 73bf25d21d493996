"""Routing: which ERP backend is the system of record for a new request, and why.

Not the pipeline step that applies it (see `gateway.pipeline.routing`) nor the YAML schema.
"""

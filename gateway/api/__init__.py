"""The HTTP surface: the versioned domain API, its problems, health and operator endpoints.

Handlers here orchestrate (xref, adapter, views); they hold no ERP mapping and no policy.
"""

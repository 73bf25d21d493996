"""Configuration: pydantic models mirroring routes.yaml, backends/ and policies/, and their loader.

Compiled, request-path forms (routing tables, verifiers) are built elsewhere from these models.
"""

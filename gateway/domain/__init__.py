"""Canonical domain: the resources, operations and problems of the gateway's API.

Nothing here knows about HTTP frameworks, ERPs or storage.
"""

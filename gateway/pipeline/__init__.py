"""The request pipeline: ordered steps each request flows through, one way, before its handler.

Steps are layered like ASGI middleware (each may look at the response on its way out); no step
calls another. `chain.py` composes them once per operation at start-up.
"""

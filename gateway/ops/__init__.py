"""Operations: the operator's controls over a running gateway (configuration reload now; the
journal, audit chain, replay and dashboard as they arrive).

Not what the gateway reports as it serves (see `gateway.observability`).
"""

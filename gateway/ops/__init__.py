"""Operations: metrics now; the journal, audit chain, replay and dashboard as they arrive.

Not the request pipeline; these observe it.
"""

"""Gateway state: the Store protocol and its strategies (embedded memory, Redis).

The xref is the one piece of state the gateway must never lose; see the README on running Redis.

Light on purpose: each store is its own module (`memory`, `redis`), `opening` picks one from a
URL; importing a part of this package (the Store protocol in `base`) loads neither store.
"""

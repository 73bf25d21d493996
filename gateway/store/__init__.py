"""Gateway state: the Store protocol and its strategies (embedded memory, Redis).

The xref is the one piece of state the gateway must never lose; see the README on running Redis.
"""

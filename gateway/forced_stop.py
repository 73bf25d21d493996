"""What the gateway still does when its server is told to quit at once (a second Ctrl-C): write
out what it buffers for the store, for `WRITE_OUT_S` at most, and say what it could not; and
stop the loops that call the store, which could otherwise keep the process from ending.

The app hands this to the server in the lifespan state (`QUIT_AT_ONCE`), the one thing the
ASGI lifespan passes from an app to its server. Not the stop itself (see
`gateway.server.GatewayServer`) nor the buffers (see `gateway.store.buffered`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

QUIT_AT_ONCE = "gateway.quit_at_once"  # the lifespan state's key of the app's `QuitAtOnce`
WRITE_OUT_S = 2.0  # told to quit at once: at most this long to write out what is buffered


@dataclass(frozen=True)
class Unwritten:
    """What a write-out left in memory, lost as the process quits: journal entries, audit
    trail entries, and releases (ERP slots and budgets that requests give back; a slot not
    given back is held until its lease runs out)."""

    journal: int = 0
    audit: int = 0
    releases: int = 0

    def __bool__(self) -> bool:
        return bool(self.journal or self.audit or self.releases)

    def said(self) -> str:
        """For people: `3 journal entries, 1 audit entry`, what is left only."""
        counts = (
            (self.journal, "journal entry", "journal entries"),
            (self.audit, "audit entry", "audit entries"),
            (self.releases, "release", "releases"),
        )
        return ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)


# Given the time the write-out may take at most, what it could not write in that time.
QuitAtOnce = Callable[[float], Awaitable[Unwritten]]

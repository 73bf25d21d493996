"""The TCP connection under a request, which ASGI does not expose: which one a request came on
(so that a simulator counts connections), and how a simulator drops it, resets it (RST) or cuts
an answer short, as a failing network or ERP would.

Not which fault applies to a request (see `control.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

_SERVER_SEND = "erp_simulators.server_send"
_LINGER_NOW = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN
_NOTICE_S = 2.0  # how long the server may take to notice the connection is gone


class SimulatorApp(Starlette):
    """A Starlette app that keeps the server's own `send` in each request's scope.

    Under uvicorn `send` is bound to the request's cycle, which holds the connection's
    transport: the one handle there is to drop a connection instead of answering.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def transport_of(scope: Scope) -> Any:
    """The request's connection (its transport), or None when the server exposes none."""
    cycle = getattr(scope.get(_SERVER_SEND), "__self__", None)
    transport = getattr(cycle, "transport", None)
    return transport if hasattr(transport, "abort") else None


async def end_connection(
    scope: Scope, receive: Receive, *, reset: bool, last_words: bytes = b""
) -> bool:
    """Send `last_words` (raw bytes, maybe half an answer), then close the request's connection:
    with a FIN, or with a RST when `reset`. Returns once the server has noticed, so that it
    does not answer on its own; False (nothing done) when the server offers no way to do it,
    as an in-process test client does not."""
    transport = transport_of(scope)
    if transport is None:
        return False
    if last_words:
        transport.write(last_words)
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NOW)
        transport.abort()
    else:
        transport.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_NOTICE_S):
            while (await receive())["type"] != "http.disconnect":
                pass
    return True

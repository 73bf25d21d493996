"""`GatewayServer` told to quit at once (a second SIGINT) while the requests its drain's limit cut
off are still unwinding: it skips the app's lifespan shutdown, as uvicorn does, but still has the
app write out what it buffers for the store (`gateway.forced_stop`), as after a drain that ended
in time. Over a real socket, with an app whose cut-off request takes its time to unwind."""

from __future__ import annotations

import asyncio
import functools
import signal
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.forced_stop import QUIT_AT_ONCE, WRITE_OUT_S, Unwritten
from gateway.server import GatewayServer, GatewayServerConfig, ServerLimits
from gateway.sockets import listening_socket
from tests.servers import wait_for

WAIT_S = 10.0


class _App:
    """A held request (`/held`) that, cut off, unwinds only once `unwind` is set; what the
    server asked of the app as it stopped."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.cancelled = threading.Event()
        self.unwind = threading.Event()
        self.written_out: list[float] = []
        self.shut_down = False

    async def _held(self, request: Request) -> Response:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            await asyncio.to_thread(self.unwind.wait, WAIT_S)  # its outcome being written, say
            raise
        return Response()

    async def _quit_at_once(self, within_s: float) -> Unwritten:
        self.written_out.append(within_s)
        return Unwritten(journal=1)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {QUIT_AT_ONCE: self._quit_at_once}
        self.shut_down = True

    def starlette(self) -> Starlette:
        return Starlette(routes=[Route("/held", self._held)], lifespan=self._lifespan)


_wait_for = functools.partial(wait_for, deadline_s=WAIT_S)


def test_a_second_sigint_while_the_cut_off_requests_unwind_still_writes_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _App()
    sock = listening_socket("127.0.0.1", 0)
    config = GatewayServerConfig(
        app.starlette(),
        limits=ServerLimits(),
        log_level="warning",
        timeout_graceful_shutdown=0.2,
    )
    server = GatewayServer(config)
    serving = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    serving.start()
    _wait_for(lambda: server.started, "the server to start")
    client = socket.create_connection(sock.getsockname(), timeout=WAIT_S)
    try:
        client.sendall(b"GET /held HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        assert app.entered.wait(WAIT_S)
        with caplog.at_level("INFO", logger="gateway.server"):
            server.handle_exit(signal.SIGINT, None)  # Ctrl-C: the drain, cut off at its limit
            assert app.cancelled.wait(WAIT_S)
            server.handle_exit(signal.SIGINT, None)  # Ctrl-C again, as the cut-off unwinds
            app.unwind.set()
            serving.join(WAIT_S)
    finally:
        client.close()
        sock.close()
    assert not serving.is_alive()
    assert server.force_exit
    assert not app.shut_down  # the lifespan's shutdown skipped, as uvicorn skips it
    assert app.written_out == [WRITE_OUT_S]  # but what it buffers written out
    stops = [r.getMessage() for r in caplog.records if r.name == "gateway.server"]
    assert stops[-1] == (
        f"stopped: told to quit at once as 1 request cut off unwound; "
        f"not written in {WRITE_OUT_S:g} s: 1 journal entry"
    ), stops
    # Nor the traceback of the lifespan the event loop's end cancels, as after any forced stop.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")] == []

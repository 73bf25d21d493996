"""A TCP proxy in front of Redis that can lose replies: while `losing`, requests go through
and Redis runs them, but the connection is closed instead of the reply coming back (a cut
connection, a failover, a socket timeout after the work was done).

Not a fault injector for anything but replies (see `tests/redis_cluster.py` for restarts).
"""

from __future__ import annotations

import asyncio
import contextlib


class ReplyLosingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.losing = False
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free local port; returns it."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection(*self.target)

        async def requests() -> None:
            while data := await client_r.read(65536):
                redis_w.write(data)
                await redis_w.drain()

        async def replies() -> None:
            while data := await redis_r.read(65536):
                if self.losing:
                    return
                client_w.write(data)
                await client_w.drain()

        try:
            _, pending = await asyncio.wait(
                [asyncio.create_task(requests()), asyncio.create_task(replies())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in pending:
                task.cancel()
        except (ConnectionError, OSError):
            pass
        finally:
            client_w.close()
            redis_w.close()

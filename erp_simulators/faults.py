"""The faults a simulator injects, and what each makes of a request: a late, missing, wrong,
unreadable, cut, dripping or dropped answer, before or after the ERP does the work.

Not the control surface that sets them (see `control.py`) nor the ERPs' own refusals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

# Each mode, and whether the ERP does the work first (an answer lost after a commit):
FAULT_MODES = (
    "latency",  # the answer, late (latency_ms)
    "timeout",  # no answer for latency_ms (default: longer than any client waits), then a 504
    "error",  # the ERP's own error document with `status` (default 500); nothing done
    "drop",  # the connection closed without an answer; nothing done
    "malformed",  # 200 with unreadable JSON, chosen JSON (`body`), or the real answer `omit`ting
    # some of its record's fields (done)
    "commit_then_timeout",  # done, then the answer held back like `timeout`
    "html",  # a proxy's HTML error page with `status` (default 502); the ERP never sees it
    "reset",  # done, then the connection reset (TCP RST) instead of the answer
    "truncated",  # done, then the first half of the answer's bytes and the connection closed
    "slow_drip",  # done, then the answer a few bytes at a time, latency_ms between them
)
HANG_S = 120.0  # "timeout" modes hold the answer back longer than any client waits
DRIP_BYTES = 16
DRIP_PAUSE_MS = 250
# What a reverse proxy (nginx here) in front of an ERP answers when it, not the ERP, fails.
PROXY_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    mode: str
    rate: float = 1.0
    latency_ms: int = 0
    status: int | None = None  # None: the mode's own (500 for `error`, 502 for `html`)
    operations: frozenset[str] = frozenset()
    body: bytes | None = None  # `malformed`: this JSON instead of unreadable bytes
    omit: frozenset[str] = frozenset()  # `malformed`: the real answer without these fields

    def applies_to(self, operation: str, rng: random.Random) -> bool:
        if self.operations and operation not in self.operations:
            return False
        return self.rate >= 1.0 or rng.random() < self.rate


class DropConnection(Exception):
    """Raised to make the simulator end the connection instead of answering: after sending
    `last_words` (raw bytes, maybe part of an answer), closed, or reset when `reset`."""

    def __init__(self, *, reset: bool = False, last_words: bytes = b"") -> None:
        super().__init__("connection dropped by an injected fault")
        self.reset = reset
        self.last_words = last_words


Work = Callable[[], Awaitable[Response]]


async def faulty(fault: Fault, commit: Work, error_response: Callable[[int], Response]) -> Response:
    """What a request under `fault` answers; `commit` is the real work of the request."""
    mode = fault.mode
    if mode == "latency":
        await asyncio.sleep(fault.latency_ms / 1000)
        return await commit()
    if mode == "timeout":
        await asyncio.sleep(fault.latency_ms / 1000 if fault.latency_ms else HANG_S)
        return error_response(504)
    if mode == "error":
        return error_response(fault.status or 500)
    if mode == "drop":
        raise DropConnection
    if mode == "malformed":
        return await _malformed(fault, commit)
    if mode == "html":
        return proxy_page(fault.status or 502)
    if mode == "reset":
        await commit()
        raise DropConnection(reset=True)
    if mode == "truncated":
        raise DropConnection(last_words=_first_half(await commit()))
    if mode == "slow_drip":
        return _Drip(await commit(), (fault.latency_ms or DRIP_PAUSE_MS) / 1000)
    # commit_then_timeout: the ERP commits, and its answer never arrives in time.
    response = await commit()
    await asyncio.sleep(fault.latency_ms / 1000 if fault.latency_ms else HANG_S)
    return response


def proxy_page(status: int) -> Response:
    """The HTML error page of a proxy in front of the ERP: the ERP never saw the request."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return HTMLResponse(PROXY_PAGE.format(status=status, phrase=phrase), status_code=status)


async def _malformed(fault: Fault, commit: Work) -> Response:
    """A 200 whose body the client cannot use: unreadable JSON, the JSON the test chose, or the
    real answer (the work is done) with some of its record's fields left out."""
    if fault.omit:
        return _without(await commit(), fault.omit)
    body = fault.body if fault.body is not None else b'{"d": {"results": ['
    return Response(body, status_code=fault.status or 200, media_type="application/json")


def _without(response: Response, fields: frozenset[str]) -> Response:
    """`response` with `fields` removed from its JSON record (inside an OData `d` envelope)."""
    try:
        document = json.loads(bytes(response.body))
    except ValueError:
        return response
    record = document.get("d", document) if isinstance(document, dict) else None
    if not isinstance(record, dict):
        return response
    for name in fields:
        record.pop(name, None)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(json.dumps(document).encode(), response.status_code, headers)


def _first_half(response: Response) -> bytes:
    """The first half of `response` as it would go on the wire: status line, headers (with
    their true Content-Length) and body. Cut in the body, or in the headers of a bodiless one."""
    status = response.status_code
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
    head += [name + b": " + value + b"\r\n" for name, value in response.raw_headers]
    wire = b"".join(head) + b"\r\n" + bytes(response.body)
    return wire[: len(wire) // 2]


class _Drip(Response):
    """`real`'s status, headers and body, the body `DRIP_BYTES` at a time with `pause_s`
    between pieces: a client's read deadline runs out mid-body. Stops when the client leaves."""

    def __init__(self, real: Response, pause_s: float) -> None:
        self.real = real
        self.pause_s = pause_s
        super().__init__(status_code=real.status_code)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.real.body)
        left = asyncio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            left.set()

        listener = asyncio.ensure_future(listen())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.real.status_code,
                    "headers": self.real.raw_headers,
                }
            )
            for start in range(0, len(body), DRIP_BYTES):
                piece = body[start : start + DRIP_BYTES]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(left.wait(), self.pause_s)
                if left.is_set():
                    return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            listener.cancel()

"""The control surface every simulator shares: `/_sim/stats`, `/_sim/faults`, `/_sim/requests`.

Not an ERP: it counts and perturbs requests; each simulator decides what an operation is.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

FAULT_MODES = (
    "latency",
    "timeout",
    "error",
    "drop",
    "malformed",
    "commit_then_timeout",
    "html",
)
# Operation labels a fault may be limited to; each simulator labels its routes with these.
OPERATIONS = (
    "auth",
    "customers.create",
    "customers.read",
    "sales_orders.create",
    "sales_orders.read",
    "sales_orders.cancel",
    "shipments.read",
    "invoices.read",
    "quotes.validate",
    "items.read",
)
HANG_S = 120.0  # "timeout" modes hold the answer back longer than any client waits
# What a reverse proxy (nginx here) in front of an ERP answers when it, not the ERP, fails.
PROXY_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_LOGGED_HEADERS = ("x-correlation-id", "traceparent", "tracestate", "authorization", "x-csrf-token")


@dataclass
class Fault:
    mode: str
    rate: float = 1.0
    latency_ms: int = 0
    status: int | None = None  # None: the mode's own (500 for `error`)
    operations: frozenset[str] = frozenset()
    body: bytes | None = None  # `malformed`: this JSON instead of unreadable bytes
    omit: frozenset[str] = frozenset()  # `malformed`: the real answer without these fields

    def applies_to(self, operation: str, rng: random.Random) -> bool:
        if self.operations and operation not in self.operations:
            return False
        return self.rate >= 1.0 or rng.random() < self.rate


@dataclass
class SimControl:
    """Counters, the active fault and a log of recent requests, for one simulator."""

    name: str
    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    fault: Fault | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))

    def fault_for(self, operation: str) -> Fault | None:
        fault = self.fault
        if fault is not None and fault.applies_to(operation, self.rng):
            return fault
        return None

    def reset(self) -> None:
        self.requests = 0
        self.peak_in_flight = self.in_flight
        self.fault = None
        self.log.clear()


async def perturbed(
    control: SimControl,
    operation: str,
    commit: Callable[[], Awaitable[Response]],
    error_response: Callable[[int], Response],
) -> Response:
    """Run `commit` (the real work of the request) under the active fault, if any applies."""
    fault = control.fault_for(operation)
    if fault is None:
        return await commit()
    if fault.mode == "latency":
        await asyncio.sleep(fault.latency_ms / 1000)
        return await commit()
    if fault.mode == "timeout":
        await asyncio.sleep(fault.latency_ms / 1000 if fault.latency_ms else HANG_S)
        return error_response(504)
    if fault.mode == "error":
        return error_response(fault.status or 500)
    if fault.mode == "malformed":
        return await _malformed(fault, commit)
    if fault.mode == "html":
        return proxy_page(fault.status or 502)
    if fault.mode == "drop":
        raise DropConnection
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


async def _malformed(fault: Fault, commit: Callable[[], Awaitable[Response]]) -> Response:
    """A 200 whose body the client cannot use: unreadable JSON, the JSON the test chose, or the
    real answer (the work is done) with some of its record's fields left out."""
    status = fault.status or 200
    if fault.omit:
        return _without(await commit(), fault.omit)
    body = fault.body if fault.body is not None else b'{"d": {"results": ['
    return Response(body, status_code=status, media_type="application/json")


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


class DropConnection(Exception):
    """Raised to make the middleware close the connection without an answer."""


class SimMiddleware:
    """Counts requests and in-flight peaks, logs trace headers, and drops connections on demand."""

    def __init__(self, app: ASGIApp, control: SimControl) -> None:
        self.app = app
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        control = self.control
        control.requests += 1
        control.in_flight += 1
        control.peak_in_flight = max(control.peak_in_flight, control.in_flight)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        control.log.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "headers": {k: headers[k] for k in _LOGGED_HEADERS if k in headers},
            }
        )
        try:
            await self.app(scope, receive, send)
        except DropConnection:
            # Closing without any response start: the client sees the connection drop.
            return
        finally:
            control.in_flight -= 1


def control_routes(control: SimControl, counts: Callable[[], dict[str, int]]) -> list[Route]:
    """`/_sim/stats`, `/_sim/faults` (POST, DELETE) and `/_sim/requests`."""

    async def stats(_: Request) -> Response:
        return JSONResponse(
            {
                **counts(),
                "requests": control.requests,
                "in_flight": control.in_flight,
                "peak_in_flight": control.peak_in_flight,
            }
        )

    async def set_fault(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            mode = body["mode"]
            if mode not in FAULT_MODES:
                raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
            operations = frozenset(body.get("operations") or ())
            unknown = operations - set(OPERATIONS)
            if unknown:
                raise ValueError(f"unknown operations: {sorted(unknown)}")
            status = body.get("status")
            fault = Fault(
                mode=mode,
                rate=float(body.get("rate", 1.0)),
                latency_ms=int(body.get("latency_ms", 0)),
                status=int(status) if status is not None else None,
                operations=operations,
                body=json.dumps(body["body"]).encode() if "body" in body else None,
                omit=frozenset(str(name) for name in body.get("omit") or ()),
            )
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": f"bad fault: {exc}"}, status_code=400)
        control.fault = fault
        return JSONResponse(
            {"mode": fault.mode, "rate": fault.rate, "operations": sorted(operations)}
        )

    async def clear_fault(_: Request) -> Response:
        control.fault = None
        return Response(status_code=204)

    async def recent(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "50"))
        return JSONResponse({"requests": list(control.log)[-limit:]})

    return [
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/faults", set_fault, methods=["POST"]),
        Route("/_sim/faults", clear_fault, methods=["DELETE"]),
        Route("/_sim/requests", recent, methods=["GET"]),
    ]

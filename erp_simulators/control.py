"""The control surface every simulator shares: `/_sim/stats`, `/_sim/faults`, `/_sim/requests`,
`/_sim/skews`.

Not an ERP: it counts and perturbs requests (the faults themselves are in `faults.py`); each
simulator decides what an operation is.
"""

from __future__ import annotations

import contextlib
import json
import random
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp_simulators.connections import end_connection, transport_of
from erp_simulators.faults import FAULT_MODES, DropConnection, Fault, Work, faulty

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
_LOGGED_HEADERS = ("x-correlation-id", "traceparent", "tracestate", "authorization", "x-csrf-token")


SKEW_MODES = ("altered", "per_call")


@dataclass
class Skew:
    """A field this ERP answers differently from its books on reads: `altered` (the same
    other value every time, as a mapping bug would) or `per_call` (a new value on each read,
    as a timestamp would), only in answers that hold `where` (dotted path -> value)."""

    field: str
    mode: str
    where: dict[str, str]
    calls: int = 0

    def applies(self, body: Any) -> bool:
        return all(_holds(body, path.split("."), value) for path, value in self.where.items())

    def rewritten(self, value: Any) -> Any:
        self.calls += 1
        suffix = "-skewed" if self.mode == "altered" else f"-{self.calls}"
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return value + (1 if self.mode == "altered" else self.calls)
        return f"{value}{suffix}"


def _objects(tree: Any) -> list[dict[str, Any]]:
    found = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _resolve(node: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _holds(body: Any, path: list[str], value: str) -> bool:
    """Whether some object of the answer has `value` at `path` (compared as text)."""
    return any(
        (found := _resolve(o, path)) is not None and str(found) == value for o in _objects(body)
    )


def skewed(body: Any, skews: list[Skew]) -> bool:
    """Rewrite the fields of `body` that `skews` name (in place); True if any was."""
    changed = False
    for skew in skews:
        if not skew.applies(body):
            continue
        for node in _objects(body):
            if skew.field in node:
                node[skew.field] = skew.rewritten(node[skew.field])
                changed = True
    return changed


@dataclass
class SimControl:
    """Counters, the active fault and a log of recent requests, for one simulator.

    `connections` counts the TCP connections that carried ERP requests (not `/_sim` ones), each
    once however many requests it carried: what a benchmark divides by requests to see whether
    a client reuses its keep-alive connections."""

    name: str
    requests: int = 0
    connections: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    fault: Fault | None = None
    skews: list[Skew] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))
    # Weak: a closed connection's transport is forgotten with it.
    _seen: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet, repr=False, compare=False)

    def count_connection(self, transport: Any) -> None:
        """Count `transport`'s connection, the first time one of its requests arrives."""
        if transport is not None and transport not in self._seen:
            self._seen.add(transport)
            self.connections += 1

    def fault_for(self, operation: str) -> Fault | None:
        fault = self.fault
        if fault is not None and fault.applies_to(operation, self.rng):
            return fault
        return None

    def reset(self) -> None:
        self.requests = 0
        self.connections = 0  # connections open now stay seen: not counted again
        self.peak_in_flight = self.in_flight
        self.fault = None
        self.skews.clear()
        self.log.clear()


async def perturbed(
    control: SimControl,
    operation: str,
    commit: Work,
    error_response: Callable[[int], Response],
) -> Response:
    """Run `commit` (the real work of the request) under the active fault, if any applies."""
    fault = control.fault_for(operation)
    if fault is None:
        return await commit()
    return await faulty(fault, commit, error_response)


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
        control.count_connection(transport_of(scope))
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
            if control.skews and scope["method"] == "GET":
                await self.app(scope, receive, _skewing(send, control.skews))
            else:
                await self.app(scope, receive, send)
        except DropConnection as drop:
            if not await end_connection(
                scope, receive, reset=drop.reset, last_words=drop.last_words
            ):
                raise  # an in-process client: it sees the exception instead
        finally:
            control.in_flight -= 1


def _skewing(send: Send, skews: list[Skew]) -> Send:
    """`send`, with a JSON answer's skewed fields rewritten (the body is held until whole)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def skewing_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body" or not start:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
            if skewed(parsed, skews):
                body = json.dumps(parsed).encode()
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return skewing_send


def control_routes(control: SimControl, counts: Callable[[], dict[str, int]]) -> list[Route]:
    """`/_sim/stats`, `/_sim/faults` (POST, DELETE) and `/_sim/requests`."""

    async def stats(_: Request) -> Response:
        return JSONResponse(
            {
                **counts(),
                "requests": control.requests,
                "connections": control.connections,
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

    async def set_skew(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            mode = body.get("mode", "altered")
            if mode not in SKEW_MODES:
                raise ValueError(f"mode must be one of {', '.join(SKEW_MODES)}")
            where = body.get("where") or {}
            if not isinstance(where, dict):
                raise ValueError("where must map dotted paths to values")
            skew = Skew(str(body["field"]), mode, {str(k): str(v) for k, v in where.items()})
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": f"bad skew: {exc}"}, status_code=400)
        control.skews.append(skew)
        return JSONResponse({"field": skew.field, "mode": skew.mode, "where": skew.where})

    async def clear_skews(_: Request) -> Response:
        control.skews.clear()
        return Response(status_code=204)

    async def recent(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "50"))
        return JSONResponse({"requests": list(control.log)[-limit:]})

    return [
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/faults", set_fault, methods=["POST"]),
        Route("/_sim/faults", clear_fault, methods=["DELETE"]),
        Route("/_sim/skews", set_skew, methods=["POST"]),
        Route("/_sim/skews", clear_skews, methods=["DELETE"]),
        Route("/_sim/requests", recent, methods=["GET"]),
    ]

"""Change notifications a simulator pushes to a subscriber (the gateway), as its ERP would: an
outbox that notices changed records after each request, sends each in the background, and
retries a subscriber that is down. `/_sim/notifications` turns it on and off.

Not the notifications' shape or signature (each simulator's `Feed` decides those). Like a real
ERP's it may send duplicates and out of order: `duplicates` sends each notification twice,
`reorder` holds them until `POST /_sim/notifications/flush` and sends the newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_ATTEMPTS = 8
RETRY_BASE_S = 0.2
SEND_TIMEOUT_S = 5.0
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Notification:
    """One message as it goes on the wire: its body and the headers that authenticate it."""

    body: bytes
    headers: dict[str, str]


class Feed(Protocol):
    """A simulator's side: the records changed since the last call, as notifications."""

    def changes(self, secret: str) -> list[Notification]: ...

    def baseline(self) -> None:
        """Take the records as they are now as already notified."""
        ...


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    duplicates: bool = False
    reorder: bool = False


@dataclass
class Outbox:
    feed: Feed
    target: Target | None = None
    sent: int = 0
    failed: int = 0
    held: list[Notification] = field(default_factory=list)
    _queue: asyncio.Queue[Notification] | None = None
    _task: asyncio.Task[None] | None = None

    def scan(self) -> None:
        """Queue a notification for each record changed since the last scan."""
        target = self.target
        if target is None:
            return
        notifications = self.feed.changes(target.secret)
        if target.reorder:
            self.held += notifications
            return
        for notification in notifications:
            self._enqueue(notification, target)

    def flush(self) -> int:
        """Send the held notifications, newest first."""
        target, held = self.target, self.held
        self.held = []
        if target is not None:
            for notification in reversed(held):
                self._enqueue(notification, target)
        return len(held)

    def _enqueue(self, notification: Notification, target: Target) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._send_all())
        for _ in range(2 if target.duplicates else 1):
            self._queue.put_nowait(notification)

    async def _send_all(self) -> None:
        assert self._queue is not None
        async with httpx.AsyncClient(timeout=SEND_TIMEOUT_S) as client:
            while True:
                notification = await self._queue.get()
                await self._send(client, notification)

    async def _send(self, client: httpx.AsyncClient, notification: Notification) -> None:
        for attempt in range(MAX_ATTEMPTS):
            target = self.target
            if target is None:
                return
            with contextlib.suppress(httpx.HTTPError):
                response = await client.post(
                    target.url,
                    content=notification.body,
                    headers=notification.headers,
                )
                if response.status_code < 300:
                    self.sent += 1
                    return
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break  # refused on its merits: sending it again changes nothing
            await asyncio.sleep(RETRY_BASE_S * 2**attempt)
        self.failed += 1

    def stats(self) -> dict[str, object]:
        pending = self._queue.qsize() if self._queue is not None else 0
        return {
            "enabled": self.target is not None,
            "url": self.target.url if self.target else None,
            "sent": self.sent,
            "failed": self.failed,
            "pending": pending,
            "held": len(self.held),
        }


class NotifyMiddleware:
    """After each request that may change records (not a read), the outbox scans for changes."""

    def __init__(self, app: ASGIApp, outbox: Outbox) -> None:
        self.app = app
        self.outbox = outbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope["method"] not in _READS:
            self.outbox.scan()


def notification_routes(outbox: Outbox) -> list[Route]:
    """`/_sim/notifications`: POST `{"url", "secret", "duplicates", "reorder"}` to push to a
    subscriber (records as they are now are not notified), DELETE to stop, GET for
    counters, and POST `/_sim/notifications/flush` to send what `reorder` held."""

    async def configure(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            url, secret = body["url"], body["secret"]
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError("url must be an http(s) URL")
            if not isinstance(secret, str) or not secret:
                raise ValueError("secret must be a non-empty string")
            target = Target(
                url, secret, bool(body.get("duplicates", False)), bool(body.get("reorder", False))
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": f"bad notification target: {exc}"}, status_code=400)
        if outbox.target is None:
            outbox.feed.baseline()
        outbox.target = target
        return JSONResponse(outbox.stats())

    async def stop(_: Request) -> Response:
        outbox.target = None
        outbox.held = []
        return Response(status_code=204)

    async def stats(_: Request) -> Response:
        return JSONResponse(outbox.stats())

    async def flush(_: Request) -> Response:
        return JSONResponse({"flushed": outbox.flush()})

    return [
        Route("/_sim/notifications", configure, methods=["POST"]),
        Route("/_sim/notifications", stop, methods=["DELETE"]),
        Route("/_sim/notifications", stats, methods=["GET"]),
        Route("/_sim/notifications/flush", flush, methods=["POST"]),
    ]

"""A recording `ErpTransport` for adapter tests: pins exact HTTP shapes without a network.

Not an ERP: it answers with the responses a test queued (or a responder function computes).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.adapters.http import ErpResponse

Answer = ErpResponse | BaseException
Responder = Callable[["SentRequest"], Answer]


@dataclass(frozen=True)
class SentRequest:
    """One request as the adapter handed it to the transport."""

    method: str
    path: str
    params: dict[str, str] | None
    headers: dict[str, str]
    json_body: Any
    form: dict[str, str] | None
    deadline: float | None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ErpResponse:
    """An answer with a JSON body."""
    return ErpResponse(
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode("utf-8"),
    )


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> ErpResponse:
    """An answer without a body, such as 204 No Content."""
    return ErpResponse(status, dict(headers or {}), b"")


class FakeTransport:
    """Records every request; answers from a queue, or from `responder` when the queue is empty.

    An exception in the queue (or returned by the responder) is raised, as a transport raises
    `ErpFailure`. Each request yields to the event loop once, so concurrent callers interleave.
    """

    def __init__(self, answers: Iterable[Answer] = (), responder: Responder | None = None) -> None:
        self.sent: list[SentRequest] = []
        self.closed = False
        self._queue: deque[Answer] = deque(answers)
        self._responder = responder

    def queue(self, *answers: Answer) -> None:
        self._queue.extend(answers)

    def requests_to(self, path: str, method: str | None = None) -> list[SentRequest]:
        return [r for r in self.sent if r.path == path and method in (None, r.method)]

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> ErpResponse:
        sent = SentRequest(
            method,
            path,
            dict(params) if params is not None else None,
            dict(headers or {}),
            json_body,
            dict(form) if form is not None else None,
            deadline,
        )
        self.sent.append(sent)
        await asyncio.sleep(0)
        if self._queue:
            answer = self._queue.popleft()
        elif self._responder is not None:
            answer = self._responder(sent)
        else:
            raise AssertionError(f"no answer queued for {method} {path}")
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def aclose(self) -> None:
        self.closed = True

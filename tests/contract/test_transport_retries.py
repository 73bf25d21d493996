"""The ERP transport's retries against a scripted HTTP server over a real socket: a read is
tried again after a 503, a dropped connection or a silent ERP; a write only when it never
reached the ERP; never past the deadline, the policy's attempts or the ERP's budget."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest

from gateway.adapters.http import AiohttpTransport, RetryHooks
from gateway.config.backends import RetryPolicy
from gateway.domain.errors import Code, ErpFailure

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def status(code: int, retry_after: int | None = None) -> bytes:
    extra = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
    return f"HTTP/1.1 {code} X\r\n{extra}Content-Length: 0\r\n\r\n".encode()


DROP = b""  # close the connection without answering
SILENT = None  # answer nothing, keep the connection open


@contextlib.asynccontextmanager
async def scripted(*answers: bytes | None) -> AsyncIterator[tuple[str, list[str]]]:
    """A server answering its requests, in order, with `answers` (the last one repeats);
    yields its URL and the request lines it received."""
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head.split(b"\r\n", 1)[0].decode())
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and int(value):
                        await reader.readexactly(int(value))
                answer = answers[min(len(seen), len(answers)) - 1]
                if answer is None:
                    await asyncio.sleep(30)
                if not answer:
                    break
                writer.write(answer)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()


def transport(
    url: str,
    attempts: int = 3,
    permit: bool = True,
    observed: list[str] | None = None,
    read_timeout_s: float = 5.0,
) -> AiohttpTransport:
    async def allow() -> bool:
        return permit

    return AiohttpTransport(
        url,
        timeout_s=5.0,
        connect_timeout_s=1.0,
        read_timeout_s=read_timeout_s,
        retries=RetryPolicy(attempts=attempts, backoff_s=0.01, max_backoff_s=0.02),
        hooks=RetryHooks(allow, observed.append if observed is not None else None),
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_read_answered_503_is_tried_again_and_succeeds() -> None:
    observed: list[str] = []
    async with scripted(status(503), status(503), OK) as (url, seen):
        t = transport(url, observed=observed)
        response = await t.request("GET", "/orders/1", deadline=time.monotonic() + 5)
        await t.aclose()
    assert response.status == 200
    assert len(seen) == 3
    assert observed == ["http_503", "http_503"]


async def test_a_read_gives_up_after_the_policy_attempts_with_the_erp_answer() -> None:
    async with scripted(status(502)) as (url, seen):
        t = transport(url, attempts=2)
        response = await t.request("GET", "/orders/1", deadline=time.monotonic() + 5)
        await t.aclose()
    assert response.status == 502  # the adapter maps it, as without retries
    assert len(seen) == 2


async def test_a_read_on_a_dropped_connection_is_tried_again() -> None:
    async with scripted(DROP, DROP, DROP, OK) as (url, seen):
        observed: list[str] = []
        t = transport(url, attempts=3, observed=observed)
        response = await t.request("GET", "/orders/1", deadline=time.monotonic() + 5)
        await t.aclose()
    assert response.status == 200
    assert "read_failed" in observed
    assert len(seen) == 4  # three dropped (aiohttp resends one on a fresh connection), then 200


async def test_a_silent_erp_is_a_read_timeout_per_attempt_within_the_deadline() -> None:
    async with scripted(SILENT, OK) as (url, seen):
        observed: list[str] = []
        t = transport(url, attempts=3, observed=observed, read_timeout_s=0.3)
        started = time.monotonic()
        response = await t.request("GET", "/orders/1", deadline=time.monotonic() + 5)
        await t.aclose()
    assert response.status == 200
    assert observed == ["timeout"]
    assert len(seen) == 2
    assert time.monotonic() - started < 2


async def test_a_write_answered_503_is_never_sent_twice() -> None:
    async with scripted(status(503), OK) as (url, seen):
        t = transport(url)
        response = await t.request(
            "POST", "/orders", json_body={"a": 1}, deadline=time.monotonic() + 5
        )
        await t.aclose()
    assert response.status == 503
    assert len(seen) == 1


async def test_a_write_whose_connection_dropped_is_ambiguous_and_not_retried() -> None:
    async with scripted(DROP, OK) as (url, seen):
        t = transport(url)
        with pytest.raises(ErpFailure) as failed:
            await t.request("POST", "/orders", json_body={"a": 1}, deadline=time.monotonic() + 5)
        await t.aclose()
    assert failed.value.ambiguous is True
    assert len(seen) == 1


async def test_a_write_that_could_not_connect_is_retried_as_it_never_reached_the_erp() -> None:
    observed: list[str] = []
    t = transport(f"http://127.0.0.1:{closed_port()}", attempts=3, observed=observed)
    with pytest.raises(ErpFailure) as failed:
        await t.request("POST", "/orders", json_body={"a": 1}, deadline=time.monotonic() + 5)
    await t.aclose()
    assert (failed.value.code, failed.value.ambiguous) == (Code.ERP_UNAVAILABLE, False)
    assert observed == ["connect_failed", "connect_failed"]


async def test_no_retry_without_a_request_of_the_erp_budget_to_spend() -> None:
    async with scripted(status(503), OK) as (url, seen):
        t = transport(url, permit=False)
        response = await t.request("GET", "/orders/1", deadline=time.monotonic() + 5)
        await t.aclose()
    assert response.status == 503
    assert len(seen) == 1


async def test_no_retry_that_would_not_fit_before_the_deadline() -> None:
    async with scripted(status(503, retry_after=3), OK) as (url, seen):
        t = transport(url)
        started = time.monotonic()
        response = await t.request("GET", "/orders/1", deadline=time.monotonic() + 1)
        await t.aclose()
    assert response.status == 503  # the ERP asked for 3 s; the request has 1 s
    assert len(seen) == 1
    assert time.monotonic() - started < 0.5


async def test_retry_after_from_the_erp_is_waited_when_it_fits() -> None:
    async with scripted(status(429, retry_after=1), OK) as (url, seen):
        t = transport(url)
        started = time.monotonic()
        response = await t.request("GET", "/orders/1", deadline=time.monotonic() + 4)
        await t.aclose()
    assert response.status == 200
    assert len(seen) == 2
    assert time.monotonic() - started >= 1.0


async def test_a_call_without_a_deadline_waits_no_longer_than_its_timeout_for_a_retry() -> None:
    """A Retry-After of a day is not waited out by a call with no deadline of its own: the
    transport's `timeout_s` (5 s here) bounds the interaction, retries included."""
    async with scripted(status(503, retry_after=86400), OK) as (url, seen):
        t = transport(url)
        async with asyncio.timeout(3):
            response = await t.request("GET", "/orders/1")
        await t.aclose()
    assert (response.status, len(seen)) == (503, 1)

"""The ERP transport against a raw HTTP server over a real socket: answers over the backend's
size cap (declared, streamed or a gzip bomb) are a retryable 502, read no further than the cap,
and their connection is closed rather than reused."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gateway.adapters.base import CallContext
from gateway.adapters.http import AiohttpTransport
from gateway.adapters.netsuite import build_netsuite_adapter
from gateway.adapters.sap import build_sap_adapter
from gateway.config.backends import NetSuiteBackend, SapBackend
from gateway.demo import SIMULATOR_CREDENTIALS
from gateway.domain.errors import Code, ErpFailure

REPO = Path(__file__).resolve().parents[2]
CAP = 1024 * 1024
HUGE = 50 * 1024 * 1024
CHUNK = b"0" * 65536
# Generous: the cap, a few aiohttp read buffers and the test's own bookkeeping. Reading the
# whole answer, as the transport once did, takes the answer's size (50 MiB) at least.
MEMORY_BOUND = 8 * CAP


@dataclass
class Served:
    """What the server saw: connections accepted and body bytes it managed to send."""

    connections: int = 0
    sent: int = 0


Answer = Callable[[asyncio.StreamWriter, Served], Awaitable[None]]


@contextlib.asynccontextmanager
async def erp_answering(answer: Answer) -> AsyncIterator[tuple[str, Served]]:
    """A raw HTTP/1.1 server on a free port that answers every request with `answer`."""
    served = Served()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                if length:
                    await reader.readexactly(length)
                await answer(writer, served)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", served
    finally:
        server.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def headers(*lines: str) -> bytes:
    fields = "".join(line + "\r\n" for line in lines)
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{fields}\r\n".encode()


async def fixed(body: bytes, writer: asyncio.StreamWriter, served: Served) -> None:
    writer.write(headers(f"Content-Length: {len(body)}") + body)
    served.sent += len(body)
    await writer.drain()


async def chunked_huge(writer: asyncio.StreamWriter, served: Served) -> None:
    """50 MiB in chunks, without a Content-Length: only counting tells how big it is."""
    writer.write(headers("Transfer-Encoding: chunked"))
    for _ in range(HUGE // len(CHUNK)):
        writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
        await writer.drain()
        served.sent += len(CHUNK)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def declared_huge(writer: asyncio.StreamWriter, served: Served) -> None:
    """A Content-Length of 50 MiB, then nothing: only a transport that reads would wait."""
    writer.write(headers(f"Content-Length: {HUGE}"))
    await writer.drain()
    await asyncio.sleep(30)


@functools.cache
def gzip_bomb() -> bytes:
    """50 MiB of zeros, gzipped to about 50 KiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1024 * 1024)
    return b"".join(compressor.compress(zeros) for _ in range(50)) + compressor.flush()


async def bomb(writer: asyncio.StreamWriter, served: Served) -> None:
    body = gzip_bomb()
    writer.write(headers("Content-Encoding: gzip", f"Content-Length: {len(body)}") + body)
    served.sent += len(body)
    await writer.drain()


async def _failure(transport: AiohttpTransport, method: str = "GET") -> tuple[ErpFailure, int]:
    """The failure of one request, and the peak memory the process allocated meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(ErpFailure) as raised:
            await transport.request(method, "/answer", json_body={} if method == "POST" else None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await transport.aclose()
    return raised.value, peak


async def test_an_answer_exactly_at_the_cap_is_read_whole_and_plain_or_gzipped() -> None:
    body = b"7" * CAP
    packed = zlib.compress(body, wbits=31)

    async def gzipped(writer: asyncio.StreamWriter, served: Served) -> None:
        writer.write(headers("Content-Encoding: gzip", f"Content-Length: {len(packed)}") + packed)
        await writer.drain()

    for answer in (functools.partial(fixed, body), gzipped):
        async with erp_answering(answer) as (url, _):
            transport = AiohttpTransport(url, max_response_bytes=CAP)
            try:
                response = await transport.request("GET", "/answer")
            finally:
                await transport.aclose()
        assert response.body == body


async def test_a_streamed_answer_over_the_cap_is_a_retryable_502_read_no_further(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with erp_answering(chunked_huge) as (url, served):
        transport = AiohttpTransport(url, max_response_bytes=CAP, backend="legacy")
        with caplog.at_level(logging.WARNING, logger="gateway.adapters"):
            failure, peak = await _failure(transport)

    assert (failure.code, failure.status, failure.retryable) == (Code.ERP_BAD_RESPONSE, 502, True)
    assert failure.ambiguous is False
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.1f} MiB allocated"
    assert served.sent < HUGE / 2  # the server was cut off, not read to the end
    (logged,) = [r for r in caplog.records if r.name == "gateway.adapters"]
    assert (logged.backend, logged.path) == ("legacy", "/answer")  # type: ignore[attr-defined]


async def test_a_write_whose_answer_is_over_the_cap_is_ambiguous() -> None:
    async with erp_answering(chunked_huge) as (url, _):
        failure, _ = await _failure(AiohttpTransport(url, max_response_bytes=CAP), "POST")

    assert (failure.code, failure.ambiguous) == (Code.ERP_BAD_RESPONSE, True)


async def test_a_declared_length_over_the_cap_is_refused_without_reading_the_body() -> None:
    async with erp_answering(declared_huge) as (url, _):
        started = time.monotonic()
        failure, _ = await _failure(AiohttpTransport(url, max_response_bytes=CAP, timeout_s=5))

    assert failure.code is Code.ERP_BAD_RESPONSE
    assert time.monotonic() - started < 1.0  # refused at the headers, not after the timeout


async def test_a_gzip_bomb_is_refused_at_the_cap_without_inflating_it() -> None:
    async with erp_answering(bomb) as (url, _):
        failure, peak = await _failure(AiohttpTransport(url, max_response_bytes=CAP))

    assert failure.code is Code.ERP_BAD_RESPONSE
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.1f} MiB allocated"


async def test_the_connection_of_an_oversized_answer_is_closed_not_reused() -> None:
    small = b'{"ok": true}'
    answers = iter([chunked_huge, functools.partial(fixed, small)])

    async def next_answer(writer: asyncio.StreamWriter, served: Served) -> None:
        await next(answers)(writer, served)

    async with erp_answering(next_answer) as (url, served):
        transport = AiohttpTransport(url, max_response_bytes=CAP)
        try:
            with pytest.raises(ErpFailure):
                await transport.request("GET", "/answer")
            response = await transport.request("GET", "/answer")
        finally:
            await transport.aclose()

    assert response.body == small
    assert served.connections == 2


async def test_each_backend_reads_no_more_than_its_configured_cap() -> None:
    # A good token grant, SAP business partner and NetSuite customer at once, 128 KiB big: read
    # whole, as under the default cap, every adapter would take it.
    big = json.dumps(
        {"access_token": "t", "id": "1", "d": {"BusinessPartner": "1", "SearchTerm1": "x" * 2**17}}
    ).encode()
    async with erp_answering(functools.partial(fixed, big)) as (url, _):
        raw = {name: _backend_file(name, url) for name in ("legacy", "cloud")}
        adapters = [
            build_sap_adapter("legacy", SapBackend.model_validate(raw["legacy"]), CREDENTIALS),
            build_netsuite_adapter(
                "cloud", NetSuiteBackend.model_validate(raw["cloud"]), CREDENTIALS
            ),
        ]
        for adapter in adapters:
            try:
                with pytest.raises(ErpFailure) as raised:
                    await adapter.get_customer("1", CallContext("corr-cap"))
            finally:
                await adapter.aclose()
            assert raised.value.code is Code.ERP_BAD_RESPONSE, adapter.name


CREDENTIALS = dict(SIMULATOR_CREDENTIALS)


def _backend_file(name: str, url: str) -> dict[str, object]:
    """backends/NAME.yaml pointed at `url`, with the smallest cap it may set (64 KiB)."""
    raw: dict[str, object] = yaml.safe_load((REPO / "backends" / f"{name}.yaml").read_text())
    return {**raw, "base_url": url, "max_response_bytes": 64 * 1024}

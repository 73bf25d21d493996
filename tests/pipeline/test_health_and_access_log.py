"""The correlation id on the health endpoints, and the access log's promise of one JSON line per
request (STANDARDS.md: the correlation id is echoed on every response, logged, and put in every
problem; README Operations: one JSON line per request on stdout)."""

from __future__ import annotations

import time

import httpx
import jwt

from gateway.observability.logging import access_log
from gateway.store.base import StoreUnavailable
from gateway.store.memory import MemoryStore
from tests.conftest import AccessLines
from tests.harness import SECRET, in_process_gateway

CALLER_ID = "ops-probe-42"


async def test_healthz_echoes_the_callers_correlation_id() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.get("/healthz", headers={"X-Correlation-ID": CALLER_ID})
    assert response.status_code == 200
    assert response.headers.get("x-correlation-id") == CALLER_ID


async def test_readyz_problem_carries_and_echoes_the_callers_correlation_id() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:

        async def down() -> None:
            raise StoreUnavailable()

        gw.runtime.store.ping = down  # type: ignore[method-assign]
        response = await api.get("/readyz", headers={"X-Correlation-ID": CALLER_ID})
    assert response.status_code == 503
    assert response.json()["correlation_id"] == CALLER_ID
    assert response.headers.get("x-correlation-id") == CALLER_ID


async def test_an_unrouted_request_writes_an_access_log_line(access_lines: AccessLines) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.get("/v1/no-such-thing", headers={"X-Correlation-ID": CALLER_ID})
        assert response.status_code == 404
    access_log.stop()  # written out
    assert [e for e in access_lines.entries if e.get("correlation_id") == CALLER_ID]


async def test_an_admin_request_refused_401_writes_an_access_log_line(
    access_lines: AccessLines,
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.get(
            "/admin/transactions",
            headers={"X-Correlation-ID": CALLER_ID, "Authorization": "Bearer not-a-token"},
        )
        assert response.status_code == 401
    access_log.stop()
    assert [e for e in access_lines.entries if e.get("correlation_id") == CALLER_ID]


async def test_a_domain_request_writes_its_access_log_line(access_lines: AccessLines) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.get(
            "/v1/customers/cus_missing", headers={"X-Correlation-ID": CALLER_ID}
        )
        assert response.status_code == 404
    access_log.stop()
    assert [e for e in access_lines.entries if e.get("correlation_id") == CALLER_ID]


async def test_an_odd_client_id_in_a_signed_token_still_gets_a_problem_and_a_log_line(
    access_lines: AccessLines,
) -> None:
    # A lone surrogate is valid JSON (`"\ud800"`) and so a valid claim, which orjson will not
    # encode: the line is written all the same, and the client gets its problem.
    now = int(time.time())
    claims = {
        "iss": "https://gateway.local/demo",
        "aud": "erp-gateway",
        "sub": "\ud800",
        "azp": "\ud800",
        "iat": now,
        "exp": now + 600,
    }
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    async with in_process_gateway(MemoryStore()) as gw:
        transport = httpx.ASGITransport(app=gw.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as api:
            response = await api.get(
                "/v1/customers/cus_missing",
                headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": CALLER_ID},
            )
    assert response.status_code == 403, response.text
    assert response.json()["correlation_id"] == CALLER_ID
    access_log.stop()
    assert [e for e in access_lines.entries if e.get("correlation_id") == CALLER_ID]


class _Bytes:
    """The access log's output, kept."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += bytes(data)
        return len(data)

    def flush(self) -> None:
        pass


async def test_a_path_with_line_breaks_is_one_line_of_the_demos_access_log() -> None:
    # The path is the caller's, percent-decoded: raw, its CR/LF would forge a line of the
    # operator's log, and an ESC would drive the terminal it is shown in.
    forged = "12:00:00 POST /admin/config/reload 200 1 ms  ops-admin"
    out = _Bytes()
    access_log.start(short=True, out=out)  # type: ignore[arg-type]
    try:
        async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
            for path in (f"/v1/customers/cus_x%0D%0A{forged}", "/nothing%0A%1B[2Jcleared"):
                assert (await api.get(path)).status_code == 404
    finally:
        access_log.stop()
    lines = out.data.decode().splitlines()
    assert len(lines) == 2, lines
    assert not any(line.startswith(forged) for line in lines), lines
    assert "\x1b" not in out.data.decode(), lines

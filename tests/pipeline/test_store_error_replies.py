"""Redis refusing writes for a while (a replica gone under `min-replicas-to-write`, a disk that
cannot take the snapshot under `stop-writes-on-bgsave-error`): the README's "Store outage"
promise is a 503 `store_unavailable` with Retry-After, never a 500."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from gateway.store import redis_errors
from gateway.store.base import StoreUnavailable
from gateway.store.redis import RedisStore
from tests.conftest import redis_url
from tests.e2e import payloads
from tests.harness import in_process_gateway, token_for
from tests.redis_server import RedisProcess, redis_server_installed

pytestmark = pytest.mark.skipif(not redis_server_installed(), reason="needs redis-server")


async def _create_status(
    url: str, heal: tuple[str, object]
) -> tuple[int, dict[str, object], dict[str, str]]:
    """A keyed create's answer from a gateway on the Redis at `url` (its claim needs a write);
    then Redis takes writes again (`heal`: a setting), so that the gateway's shutdown writes
    its journal out at once rather than trying until its timeout."""
    store = RedisStore.from_url(url, prefix="gw-misbehave:")
    try:
        async with in_process_gateway(store) as gw:
            # As a server answers: an exception the app lets out is a 500, not a test error.
            transport = httpx.ASGITransport(app=gw.app, raise_app_exceptions=False)
            headers = {"Authorization": f"Bearer {token_for('crm-demo')}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway.test", headers=headers
            ) as api:
                lookup = await api.post(
                    "/v1/customers",
                    json=payloads.customer("US01"),
                    headers={"Idempotency-Key": "k-refused-writes"},
                )
            assert all(not erp.calls for erp in gw.erps.values())  # refused before the ERP
            try:
                body = lookup.json()
            except ValueError:
                body = {"text": lookup.text}
            admin = redis.Redis.from_url(url)
            admin.config_set(*heal)
            admin.close()
            return lookup.status_code, body, dict(lookup.headers)
    finally:
        await store.aclose()


async def test_a_primary_without_its_replicas_is_a_503_not_a_500() -> None:
    # `min-replicas-to-write 1` (the durability the README asks for the xref) and the replica
    # down: every write, in a script too, is refused with -NOREPLICAS until it is back.
    with RedisProcess() as server:
        admin = redis.Redis.from_url(server.url)
        admin.config_set("min-replicas-to-write", 1)
        admin.close()
        status, problem, headers = await _create_status(server.url, ("min-replicas-to-write", 0))
    assert status == 503, (status, problem)
    assert problem["code"] == "store_unavailable"
    assert headers.get("retry-after")


async def test_a_redis_that_cannot_persist_is_a_503_not_a_500() -> None:
    # `stop-writes-on-bgsave-error yes` (the default) and a snapshot that failed (a full or
    # gone disk): Redis refuses writes with -MISCONF until a snapshot succeeds again.
    gone = Path(tempfile.mkdtemp(prefix="gateway-redis-gone-"))
    with RedisProcess(extra_args=("--save", "3600 1", "--dir", str(gone))) as server:
        shutil.rmtree(gone)  # the working directory: the snapshot's file cannot be made
        admin = redis.Redis.from_url(server.url)
        admin.bgsave()
        deadline = time.monotonic() + 5
        while admin.info("persistence")["rdb_last_bgsave_status"] != "err":
            assert time.monotonic() < deadline, "the snapshot did not fail"
            await asyncio.sleep(0.05)
        with pytest.raises(redis.exceptions.ResponseError, match="MISCONF"):
            admin.set("probe", "x")
        admin.close()
        status, problem, _ = await _create_status(server.url, ("stop-writes-on-bgsave-error", "no"))
    assert status == 503, (status, problem)
    assert problem["code"] == "store_unavailable"


async def test_a_database_redis_does_not_have_is_a_503_not_a_500() -> None:
    # GATEWAY_REDIS_URL naming database 99 of a Redis with the default 16: every connection's
    # SELECT is refused (`-ERR DB index is out of range`) until the URL is put right.
    missing = urlsplit(redis_url())._replace(path="/99").geturl()
    store = RedisStore.from_url(missing, prefix="gw-misbehave:")
    try:
        async with in_process_gateway(store) as gw:
            transport = httpx.ASGITransport(app=gw.app, raise_app_exceptions=False)
            headers = {"Authorization": f"Bearer {token_for('crm-demo')}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway.test", headers=headers
            ) as api:
                ready = await api.get("/readyz")
                create = await api.post(
                    "/v1/customers",
                    json=payloads.customer("US01"),
                    headers={"Idempotency-Key": "k-missing-database"},
                )
            assert all(not erp.calls for erp in gw.erps.values())
    finally:
        await store.aclose()
    assert ready.status_code == 503, ready.text
    assert ready.json()["code"] == "store_unavailable"
    assert create.status_code == 503, create.text
    assert create.json()["code"] == "store_unavailable"
    assert create.headers.get("retry-after")


@pytest.mark.parametrize(
    ("change", "database", "kind"),
    [
        # An operator with several databases on one Redis must tell which one was refused.
        ({"path": "/99"}, 99, "database"),
        # The password is never written, even where it is what Redis refused.
        ({"netloc": "gw:s3cret-pw@{host}", "path": "/3"}, 3, "password"),
    ],
)
async def test_a_refusal_says_which_database_of_which_redis_never_the_password(
    change: dict[str, str],
    database: int,
    kind: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_errors, "_told", set())  # what this process has told so far
    parts = urlsplit(redis_url())
    host = f"{parts.hostname}:{parts.port or 6379}"
    url = parts._replace(**{k: v.format(host=host) for k, v in change.items()}).geturl()
    store = RedisStore.from_url(url, prefix="gw-misbehave:")
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.aclose()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "gateway.store"]
    assert kind in line
    assert f"database {database} of {host}" in line, line
    assert "s3cret-pw" not in line

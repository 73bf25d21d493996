"""The gateway in-process over fake ERPs, for pipeline tests: real config, real store, ASGI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import httpx
import jwt
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from gateway.app import build_app, install_runtime
from gateway.config.loader import load_config
from gateway.observability.spans import Telemetry
from gateway.runtime import Runtime, build_runtime
from gateway.store.base import Store
from tests.configs import EVENTS_SECRETS, WEBHOOK_SECRET, WEBHOOK_SECRET_ENV
from tests.e2e import payloads
from tests.fake_erp import FakeErp

REPO = Path(__file__).resolve().parents[1]
SECRET = "pipeline-test-secret-0123456789abcdef"
ENV = {"GATEWAY_DEMO_SECRET": SECRET, WEBHOOK_SECRET_ENV: WEBHOOK_SECRET, **EVENTS_SECRETS}


def token_for(client_id: str, scope: str | None = None, ttl_s: int = 600) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://gateway.local/demo",
        "aud": "erp-gateway",
        "sub": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + ttl_s,
    }
    if scope is not None:
        claims["scope"] = scope
    return jwt.encode(claims, SECRET, algorithm="HS256")


def forged_token(client_id: str = "crm-demo") -> str:
    """A demo issuer's token for `client_id` signed with another secret: a guess, refused 401
    `bad_signature`."""
    claims = jwt.decode(token_for(client_id), options={"verify_signature": False})
    return jwt.encode(claims, "not-the-demo-secret-but-long-enough-0123456789", algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    """The Authorization header that sends `token`."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Gateway:
    app: Starlette
    runtime: Runtime
    erps: dict[str, FakeErp]

    def client(self, client_id: str = "crm-demo") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {token_for(client_id)}"},
        )

    def serve(self, runtime: Runtime) -> None:
        """Answer from the next request on with `runtime`, as a reload would."""
        install_runtime(self.app, runtime)


@asynccontextmanager
async def in_process_gateway(
    store: Store,
    config_dir: Path = REPO,
    telemetry: Telemetry | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Gateway]:
    config = load_config(config_dir, env=ENV)
    erps = {name: FakeErp(name) for name in config.backends}
    runtime = build_runtime(config, store, ENV, adapters=erps)
    app = build_app(
        runtime, config_dir=config_dir, watch_config=False, telemetry=telemetry, clock=clock
    )
    try:
        yield Gateway(app, runtime, erps)
    finally:
        # What the app's lifespan does at shutdown (ASGITransport runs no lifespan): the
        # journal and the audit trail written out while the store is still open.
        current = app.state.serving.runtime
        await current.journal.aclose()
        await current.audit.aclose()
        await current.releases.aclose()


OTHER_PROCESS = "another-process"  # the holder of a copy lock in `copy_held_elsewhere`


class CopyWatch:
    """The store, telling when a request first finds a customer's copy lock (`lock`) held by
    another copy: it is admitted and waits for that copy."""

    def __init__(self, store: Store, lock: str) -> None:
        self._store = store
        self._lock = lock
        self.waiting = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def acquire_slot(self, key: str, limit: int, token: str, lease_s: float) -> bool:
        taken = await self._store.acquire_slot(key, limit, token, lease_s)
        if key == self._lock and not taken:
            self.waiting.set()
        return taken

    async def other_copy_done(self) -> None:
        """The other process's copy (`copy_held_elsewhere`) ends: its lock given back."""
        await self._store.release_slot(self._lock, OTHER_PROCESS)


async def copy_held_elsewhere(gw: Gateway, store: Store, customer_id: str) -> CopyWatch:
    """Another process copying `customer_id` to the cloud ERP for a minute (its copy lock
    held), and `gw` served on a store that tells when a request first waits for that copy."""
    lock = f"copy:{customer_id}:cloud"
    assert await store.acquire_slot(lock, 1, OTHER_PROCESS, 60.0)
    watched = CopyWatch(store, lock)
    gw.serve(replace(gw.app.state.serving.runtime, store=cast(Store, watched)))
    return watched


_ORDER_READS = frozenset({"get_sales_order", "list_shipments", "list_invoices"})


async def open_orders(gw: Gateway, count: int) -> list[str]:
    """`count` orders created on the legacy ERP (DE01), journaled: their ERP ids."""
    async with gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("DE01"))).json()
        for _ in range(count):
            order = await api.post(
                "/v1/sales-orders",
                json=payloads.order("DE01", customer["id"]),
                headers=payloads.new_key(),
            )
            assert order.status_code == 201, order.text
    assert await gw.runtime.journal.flush()
    return list(gw.erps["legacy"].orders)


class WatchedReads:
    """An adapter whose reads take a moment, counting how many are at the ERP at once."""

    def __init__(self, adapter: Any, delay_s: float) -> None:
        self._adapter = adapter
        self._delay_s = delay_s
        self.at_once = 0
        self.peak = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if name not in _ORDER_READS:
            return attribute

        async def read(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.at_once += 1
            self.peak = max(self.peak, self.at_once)
            try:
                await asyncio.sleep(self._delay_s)
                return await attribute(*args, **kwargs)
            finally:
                self.at_once -= 1

        return read


def erp_calls_timed(backend: str, operation: str, outcome: str, origin: str) -> float:
    """ERP calls `gateway_erp_call_duration_seconds` timed so far with these labels."""
    labels = {
        "backend": backend,
        "erp_operation": operation,
        "outcome": outcome,
        "origin": origin,
    }
    return REGISTRY.get_sample_value("gateway_erp_call_duration_seconds_count", labels) or 0.0

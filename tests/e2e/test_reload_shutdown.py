"""The gateway stopped after a reload replaced its ERPs' adapters: the replaced ones, kept open
for the requests that started on them, are closed with the rest."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import httpx

from gateway.app import build_app
from gateway.configuration import load
from gateway.runtime import build_runtime
from gateway.store.memory import MemoryStore
from tests.configs import write_config
from tests.e2e import payloads
from tests.e2e.gateways import token_for


def _slow_the_erps_down(config_dir: Path) -> None:
    """A new `timeout_s` for both backends: a reload replaces both adapters."""
    for name in ("legacy", "cloud"):
        backend = config_dir / "backends" / f"{name}.yaml"
        text = backend.read_text()
        assert "\ntimeout_s: 1.5\n" in text
        backend.write_text(text.replace("\ntimeout_s: 1.5\n", "\ntimeout_s: 1.4\n"))


async def _serve_reload_and_stop(config_dir: Path, env: dict[str, str]) -> None:
    """The gateway's life as `gateway serve` gives it: started, a request to each ERP (a pool
    opened on each), a reload replacing both adapters, stopped at once."""
    runtime = build_runtime(load(config_dir, env), MemoryStore(), env)
    app = build_app(runtime, config_dir=config_dir, watch_config=False, deliver_events=False)

    def client(client_id: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway.test",
            headers={"Authorization": f"Bearer {token_for(client_id, config_dir)}"},
        )

    async with app.router.lifespan_context(app), client("crm-demo") as api:
        for legal_entity in ("DE01", "FR01"):
            created = await api.post("/v1/customers", json=payloads.customer(legal_entity))
            assert created.status_code == 201, created.text
        _slow_the_erps_down(config_dir)
        async with client("ops-admin") as ops:
            reloaded = await ops.post("/admin/config/reload")
            assert reloaded.status_code == 200, reloaded.text


def test_a_gateway_stopped_soon_after_a_reload_closes_the_erp_connections_it_replaced(
    gateway_env: dict[str, str], tmp_path: Path
) -> None:
    # The replaced adapters waited out the longest request's timeout before closing; a stop in
    # that time left their pools open: "Unclosed client session" once the loop had ended.
    config_dir = write_config(tmp_path)
    env = {k: v for k, v in gateway_env.items() if k != "GATEWAY_CONFIG_DIR"}
    reported: list[str] = []

    def report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        reported.append(str(context.get("message")))

    loop = asyncio.new_event_loop()
    loop.set_exception_handler(report)
    try:
        loop.run_until_complete(_serve_reload_and_stop(config_dir, env))
    finally:
        _end(loop)
    gc.collect()  # what was left open is reported as it is collected
    assert [m for m in reported if "Unclosed" in m] == []


def _end(loop: asyncio.AbstractEventLoop) -> None:
    """What asyncio.run does once the server returns: what is still pending is cancelled."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()

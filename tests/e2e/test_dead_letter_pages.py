"""`gateway events dead-letters` against a gateway holding more dead letters than one page of
the admin API: the listing pages on by cursor, and `--replay` without ids replays every one."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx

from gateway.app import build_app
from gateway.config.loader import load_config
from gateway.runtime import build_runtime
from gateway.store.events import DocumentState, EventRetention, NewEvent
from gateway.store.memory import MemoryStore
from tests.fake_erp import FakeErp
from tests.harness import ENV, token_for
from tests.servers import run_cli, serve_app

MORE_THAN_A_PAGE = 1001  # the admin API's pages hold 1,000 at most


async def dead_letters(store: MemoryStore, count: int) -> list[str]:
    """`count` deliveries dead-lettered, oldest first: their ids."""
    now = time.time()
    subscription = f"sub-{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(count):
        event_id = f"evt_{i:05d}"
        body = json.dumps({"id": event_id, "type": "sales_order.shipped", "subject": "so_1"})
        new = NewEvent(event_id, f"so_{i}", body, (subscription,))
        assert await store.events.commit(
            f"d:{i}", 0, DocumentState(1, {}), [new], now + i, EventRetention()
        )
    for delivery in await store.events.claim_deliveries(now + count, count, 60, "test"):
        assert await store.events.dead_letter(delivery, "HTTP 500", now + count, EventRetention())
        ids.append(delivery.id)
    return ids


def test_replay_without_ids_replays_every_dead_letter_not_only_the_first_page(
    repo_config: Path,
) -> None:
    store = MemoryStore()
    ids = asyncio.run(dead_letters(store, MORE_THAN_A_PAGE))
    config = load_config(repo_config, env=ENV)
    runtime = build_runtime(config, store, ENV, adapters={n: FakeErp(n) for n in config.backends})
    app = build_app(runtime, config_dir=repo_config, watch_config=False)
    admin = token_for("ops-admin")
    with serve_app(app, ready_path="/healthz") as url:
        listed = run_cli(
            "events", "dead-letters", "--limit", "5000", "--url", url, admin_token=admin
        )
        assert listed.returncode == 0, listed.stderr
        assert [line.split()[0] for line in listed.stdout.splitlines()] == ids
        refused = httpx.get(
            f"{url}/admin/events/dead-letters",
            params={"cursor": "not-a-cursor"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        replayed = run_cli("events", "dead-letters", "--replay", "--url", url, admin_token=admin)
    assert refused.status_code == 400
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/cursor"]
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines() == [f"{i}: due again" for i in ids]

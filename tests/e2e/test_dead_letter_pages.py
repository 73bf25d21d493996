"""`gateway events dead-letters` against a gateway holding more dead letters than one page of
the admin API: the listing pages on by cursor, and `--replay` without ids replays every one;
with `--subscription` (`?subscription=` of the admin API), only that subscription's."""

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


HOOK = "crm-demo-hook"  # the repository's subscription (policies/subscriptions.yaml)
REMOVED = "retired-hook"  # a subscription no longer configured; its dead letters are kept


async def dead_letters(
    store: MemoryStore, count: int, subscription: str | None = None, first: int = 0
) -> list[str]:
    """`count` deliveries for `subscription` (by default one of their own) dead-lettered,
    oldest first: their ids. Their events' ids are numbered from `first`."""
    now = time.time()
    subscription = subscription or f"sub-{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(first, first + count):
        event_id = f"evt_{i:05d}"
        body = json.dumps({"id": event_id, "type": "sales_order.shipped", "subject": "so_1"})
        new = NewEvent(event_id, f"so_{i}", body, (subscription,))
        assert await store.events.commit(
            f"d:{i}", 0, DocumentState(1, {}), [new], now + i - first, EventRetention()
        )
    claimed = await store.events.claim_deliveries(now + count, count, 60, "test")
    for delivery in claimed:
        assert await store.events.dead_letter(delivery, "HTTP 500", now + count, EventRetention())
        ids.append(delivery.id)
    assert await store.events.release(subscription, claimed[0].lease or "")
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


def test_one_subscriptions_dead_letters_are_listed_and_replayed_without_the_others(
    repo_config: Path,
) -> None:
    store = MemoryStore()
    mine = asyncio.run(dead_letters(store, 5, HOOK))
    retired = asyncio.run(dead_letters(store, 2, REMOVED, first=5))
    others = asyncio.run(dead_letters(store, 3, first=7))
    config = load_config(repo_config, env=ENV)
    assert REMOVED not in {s.id for s in config.subscriptions.subscriptions}
    runtime = build_runtime(config, store, ENV, adapters={n: FakeErp(n) for n in config.backends})
    app = build_app(runtime, config_dir=repo_config, watch_config=False)
    admin = token_for("ops-admin")
    headers = {"Authorization": f"Bearer {admin}"}

    def listing(**params: str) -> httpx.Response:
        return httpx.get(f"{url}/admin/events/dead-letters", params=params, headers=headers)

    with serve_app(app, ready_path="/healthz") as url:
        first = listing(subscription=HOOK, limit="3")
        second = listing(subscription=HOOK, limit="3", cursor=first.json()["next_cursor"])
        of_removed = listing(subscription=REMOVED)
        unknown = listing(subscription="no-such-hook")
        malformed = listing(subscription="Not:One")
        elsewhere = listing(subscription=REMOVED, limit="1").json()["next_cursor"]
        wrong_cursor = listing(subscription=HOOK, cursor=elsewhere)
        listed = run_cli(
            "events", "dead-letters", "--subscription", HOOK, "--limit", "4", "--url", url,
            admin_token=admin,
        )  # fmt: skip
        not_listed = run_cli(
            "events", "dead-letters", "--subscription", "no-such-hook", "--url", url,
            admin_token=admin,
        )  # fmt: skip
        both = run_cli(
            "events", "dead-letters", "--subscription", HOOK, "--replay", mine[0], "--url", url,
            admin_token=admin,
        )  # fmt: skip
        replayed = run_cli(
            "events", "dead-letters", "--subscription", HOOK, "--replay", "--url", url,
            admin_token=admin,
        )  # fmt: skip
        left = listing(limit="100").json()
    assert first.status_code == 200, first.text
    assert [d["id"] for d in first.json()["items"]] == mine[:3]
    assert [d["id"] for d in second.json()["items"]] == mine[3:]
    assert second.json()["next_cursor"] is None
    # Removed from the configuration, its dead letters are still kept, so listed.
    assert [d["id"] for d in of_removed.json()["items"]] == retired
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert "no-such-hook" in unknown.json()["detail"]
    assert malformed.status_code == 400
    assert [e["pointer"] for e in malformed.json()["errors"]] == ["/subscription"]
    assert wrong_cursor.status_code == 400
    assert [e["pointer"] for e in wrong_cursor.json()["errors"]] == ["/cursor"]
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == mine[:4]
    assert not_listed.returncode == 1
    assert "no-such-hook" in not_listed.stderr
    assert both.returncode == 2 and "--subscription" in both.stderr
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines() == [f"{i}: due again" for i in mine]
    assert [d["id"] for d in left["items"]] == retired + others

"""`gateway events subscriptions` and `/admin/events/subscriptions` against a running gateway
whose subscriber answered 410 Gone: the operator sees the subscription disabled, when, why and
at which URL, and how many dead letters it has waiting, and enables it again (audited); an
unknown subscription is a 404 problem."""

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
from gateway.store.subscription_states import Disabled
from tests.fake_erp import FakeErp
from tests.harness import ENV, token_for
from tests.servers import run_cli, serve_app

HOOK = "crm-demo-hook"  # the repository's subscription (policies/subscriptions.yaml)
GONE_AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DEAD_LETTERS = 2
KEEP = EventRetention()


async def dead_letters_for(store: MemoryStore, subscription: str, count: int) -> None:
    """`count` events for `subscription`, each delivery kept as a dead letter."""
    now = time.time()
    for _ in range(count):
        event_id = f"evt_{uuid.uuid4().hex}"
        new = NewEvent(event_id, "so_1", json.dumps({"id": event_id}), (subscription,))
        assert await store.events.commit(f"d:{event_id}", 0, DocumentState(1, {}), [new], now, KEEP)
        (delivery,) = await store.events.claim_deliveries(now, 10, 30, "test")
        assert await store.events.dead_letter(delivery, "HTTP 410 Gone", now, KEEP)
        assert await store.events.release(subscription, delivery.lease or "")


def test_an_operator_sees_a_disabled_subscription_and_enables_it_again(
    repo_config: Path,
) -> None:
    store = MemoryStore()
    config = load_config(repo_config, env=ENV)
    (subscription,) = [s for s in config.subscriptions.subscriptions if s.id == HOOK]
    url = str(subscription.url)
    assert asyncio.run(store.subscriptions.disable(HOOK, Disabled(url, 410, GONE_AT)))
    asyncio.run(dead_letters_for(store, HOOK, DEAD_LETTERS))
    runtime = build_runtime(config, store, ENV, adapters={n: FakeErp(n) for n in config.backends})
    app = build_app(runtime, config_dir=repo_config, watch_config=False)
    admin = token_for("ops-admin")
    headers = {"Authorization": f"Bearer {admin}"}
    with serve_app(app, ready_path="/healthz") as gateway:
        listed = httpx.get(f"{gateway}/admin/events/subscriptions", headers=headers)
        anonymous = httpx.get(f"{gateway}/admin/events/subscriptions")
        shown = run_cli("events", "subscriptions", "--url", gateway, admin_token=admin)
        enabled = run_cli(
            "events", "subscriptions", "--enable", HOOK, "--url", gateway, admin_token=admin
        )
        after = httpx.get(f"{gateway}/admin/events/subscriptions", headers=headers)
        unknown = httpx.post(
            f"{gateway}/admin/events/subscriptions/no-such-hook/enable", headers=headers
        )
        not_enabled = run_cli(
            "events", "subscriptions", "--enable", "no-such-hook", "--url", gateway,
            admin_token=admin,
        )  # fmt: skip
        audit = httpx.get(f"{gateway}/admin/audit", headers=headers)
    assert listed.status_code == 200, listed.text
    (item,) = [i for i in listed.json()["items"] if i["id"] == HOOK]
    assert item == {
        "id": HOOK,
        "url": url,
        "client": subscription.client,
        "state": "disabled",
        "disabled": {"at": "2026-01-01T00:00:00Z", "status": 410, "url": url},
        "dead_letters": DEAD_LETTERS,
    }
    assert anonymous.status_code == 401
    assert shown.returncode == 0, shown.stderr
    assert (
        f"{HOOK}  disabled since 2026-01-01T00:00:00Z  HTTP 410 from {url}  "
        f"{DEAD_LETTERS} dead letters"
    ) in shown.stdout
    assert enabled.returncode == 0, enabled.stderr
    assert f"{HOOK}: enabled" in enabled.stdout
    # Its dead letters only: other subscriptions' may still be failing.
    assert f"gateway events dead-letters --subscription {HOOK} --replay" in enabled.stdout
    (again,) = [i for i in after.json()["items"] if i["id"] == HOOK]
    assert (again["state"], again["disabled"]) == ("enabled", None)
    assert asyncio.run(store.subscriptions.disabled()) == {}
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert not_enabled.returncode == 1
    assert "no-such-hook" in not_enabled.stderr
    entries = [json.loads(line) for line in audit.text.splitlines()]
    enablings = [e for e in entries if e["kind"] == "events.subscription.enabled"]
    assert [(e["actor"], e["details"]) for e in enablings] == [
        ("ops-admin", {"subscription": HOOK, "was_disabled": True})
    ]

"""Domain events end to end: both simulators push their change notifications to the gateway
over real sockets, and a real local HTTP subscriber receives the signed webhooks.

The simulators here are this module's own (their notifications go to this module's gateways
only); each test advances only its own orders.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from standardwebhooks.webhooks import Webhook

from gateway.demo import SIMULATOR_CREDENTIALS
from tests import servers
from tests.configs import TEST_SECRET, write_config
from tests.e2e import payloads
from tests.e2e.checks import create_customer, new_order
from tests.e2e.gateways import client_for, start_gateway, start_simulator, token_for
from tests.redis_server import RedisProcess
from tests.servers import free_port, run_cli

LEGACY_SECRET = "legacy-events-" + secrets.token_hex(8)
CLOUD_SECRET = "cloud-events-" + secrets.token_hex(8)
HOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
RETRIES = (0.2, 0.4, 0.8, 1.6)  # short, so a dead letter comes within seconds
WAIT_S = 30.0
LIFECYCLE = ["in_fulfillment", "shipped", "invoiced", "paid"]
ORDER_EVENTS = [
    "sales_order.accepted",
    "sales_order.in_fulfillment",
    "shipment.created",
    "sales_order.shipped",
    "sales_order.invoiced",
    "invoice.created",
    "sales_order.paid",
]


@dataclass
class Receipt:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Subscriber:
    """A webhook receiver: records what it took (2xx) and what it refused (503)."""

    url: str
    received: list[Receipt] = field(default_factory=list)
    refused: list[Receipt] = field(default_factory=list)
    # By path: how to answer a delivery given how often its webhook-id was refused before.
    failing: dict[str, Callable[[int], bool]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, receipt: Receipt) -> int:
        with self.lock:
            webhook_id = receipt.headers.get("webhook-id")
            refusals = sum(
                1
                for r in self.refused
                if r.path == receipt.path and r.headers.get("webhook-id") == webhook_id
            )
            fails = self.failing.get(receipt.path)
            if fails is not None and fails(refusals):
                self.refused.append(receipt)
                return 503
            self.received.append(receipt)
            return 204

    def events(self, path: str, subject: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            found = [r.event for r in self.received if r.path == path]
        return [e for e in found if subject is None or e["data"].get("id") == subject]

    def receipts(self, path: str) -> list[Receipt]:
        with self.lock:
            return [r for r in self.received if r.path == path]


@pytest.fixture(scope="module")
def subscriber() -> Iterator[Subscriber]:
    port = free_port()
    hooks = Subscriber(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            receipt = Receipt(
                self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
            )
            self.send_response(hooks.answer(receipt))
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hooks
    server.shutdown()
    server.server_close()


def subscriptions(url: str) -> str:
    return f"""
subscriptions:
  - id: crm
    url: {url}/crm
    client: crm-demo
    secret_env: TEST_HOOK_SECRET
  - id: emea
    url: {url}/emea
    client: crm-emea
    secret_env: TEST_HOOK_SECRET
  - id: flaky
    url: {url}/flaky
    client: crm-demo
    types: [sales_order.accepted]
    secret_env: TEST_HOOK_SECRET
  - id: in-v1
    url: {url}/in-v1
    client: crm-demo
    types: [sales_order.accepted]
    api_version: v1
    secret_env: TEST_HOOK_SECRET
  - id: pinned-v1
    url: {url}/pinned-v1
    client: crm-pinned-v1
    types: [sales_order.accepted]
    secret_env: TEST_HOOK_SECRET
delivery:
  retry_schedule_s: [{", ".join(str(s) for s in RETRIES)}]
  timeout_s: 2
  lease_s: 5
"""


TIMELINE_RETENTION_S = 7200  # policies/operations.yaml: far below the 90 days by default
PINNED_V1_CLIENT = """
  - id: crm-pinned-v1
    scopes: [sales_orders:read]
    legal_entities: "*"
    rate_limit: standard
    api_version: v1
"""


@pytest.fixture(scope="module")
def events_config(tmp_path_factory: pytest.TempPathFactory, subscriber: Subscriber) -> Path:
    return write_config(
        tmp_path_factory.mktemp("events-config"),
        subscriptions=subscriptions(subscriber.url),
        clients=PINNED_V1_CLIENT,
        operations=f"events:\n  timelines: {{retention_s: {TIMELINE_RETENTION_S}}}\n",
    )


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    with start_simulator("legacy") as legacy, start_simulator("cloud") as cloud:
        yield {"legacy": legacy, "cloud": cloud}


def env_for(sims: dict[str, str], config_dir: Path, redis_url: str = "") -> dict[str, str]:
    return {
        **SIMULATOR_CREDENTIALS,
        "GATEWAY_LEGACY_URL": sims["legacy"],
        "GATEWAY_CLOUD_URL": sims["cloud"],
        "GATEWAY_DEMO_SECRET": TEST_SECRET,
        "GATEWAY_CONFIG_DIR": str(config_dir),
        "GATEWAY_REDIS_URL": redis_url,
        "LEGACY_EVENTS_SECRET": LEGACY_SECRET,
        "CLOUD_EVENTS_SECRET": CLOUD_SECRET,
        "TEST_HOOK_SECRET": HOOK_SECRET,
    }


def push_to(sims: dict[str, str], gateways: dict[str, str], **options: bool) -> None:
    """Each simulator pushes its notifications to the gateway named for it."""
    secret = {"legacy": LEGACY_SECRET, "cloud": CLOUD_SECRET}
    for name, url in sims.items():
        target = {"url": f"{gateways[name]}/erp-events/{name}", "secret": secret[name], **options}
        httpx.post(f"{url}/_sim/notifications", json=target).raise_for_status()


@pytest.fixture(scope="module")
def gateway(sims: dict[str, str], events_config: Path) -> Iterator[str]:
    with start_gateway(env_for(sims, events_config)) as (url, _):
        push_to(sims, {"legacy": url, "cloud": url})
        yield url


@pytest.fixture(scope="module")
def crm(gateway: str, events_config: Path) -> Iterator[httpx.Client]:
    with client_for(gateway, token_for("crm-demo", events_config)) as client:
        yield client


wait_for = functools.partial(servers.wait_for, deadline_s=WAIT_S)


def erp_of(legal_entity: str) -> str:
    return "cloud" if legal_entity in ("US01", "FR01") else "legacy"


def advance(sims: dict[str, str], order: dict[str, Any], stage: str) -> None:
    """Move one order (by its ERP number or internal id) forward in its ERP."""
    erp = erp_of(order["legal_entity"])
    key = "sales_order" if erp == "legacy" else "tran_id"
    body = {key: order["erp_reference"], "to": stage}
    httpx.post(f"{sims[erp]}/_sim/advance", json=body).raise_for_status()


def timeline(api: httpx.Client, order_id: str, version: str = "v2") -> list[dict[str, Any]]:
    response = api.get(f"/{version}/sales-orders/{order_id}/events")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cloudevents-batch+json")
    events: list[dict[str, Any]] = response.json()
    return events


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def walk_to_paid(sims: dict[str, str], api: httpx.Client, order: dict[str, Any]) -> None:
    """Each stage in turn, waiting for the gateway to have recorded it before the next."""
    wait_for(lambda: timeline(api, order["id"]), "the order's accepted event")
    for stage in LIFECYCLE:
        advance(sims, order, stage)
        wait_for(
            lambda stage=stage: f"sales_order.{stage}" in types_of(timeline(api, order["id"])),
            f"sales_order.{stage}",
        )


def admin_token(admin: httpx.Client) -> str:
    return str(admin.headers["authorization"]).removeprefix("Bearer ")


def verified(receipt: Receipt) -> dict[str, Any]:
    """The event, once its Standard Webhooks signature checks out (raises otherwise)."""
    event: dict[str, Any] = Webhook(HOOK_SECRET).verify(receipt.body, receipt.headers)
    return event


@pytest.mark.parametrize("legal_entity", ["US01", "GB01"])
def test_an_orders_events_arrive_in_order_and_each_delivery_verifies(
    gateway: str,
    crm: httpx.Client,
    sims: dict[str, str],
    subscriber: Subscriber,
    legal_entity: str,
) -> None:
    order = new_order(crm, legal_entity)
    walk_to_paid(sims, crm, order)
    recorded = timeline(crm, order["id"])
    assert types_of(recorded) == ORDER_EVENTS
    ids = [e["id"] for e in recorded]

    def delivered() -> list[Receipt]:
        mine = [r for r in subscriber.receipts("/crm") if r.event["id"] in ids]
        return mine if len(mine) == len(ids) else []

    receipts = wait_for(delivered, "every event of the order at the subscriber")
    events = [verified(r) for r in receipts]
    assert [e["id"] for e in events] == ids  # in order, each once
    assert [e["sequence"] for e in events] == [str(n) for n in range(1, len(ids) + 1)]
    assert [r.headers["webhook-id"] for r in receipts] == ids
    assert all(e["legalentity"] == legal_entity for e in events)
    assert all(e["erpbackend"] == erp_of(legal_entity) for e in events)
    order_events = [e for e in events if e["type"].startswith("sales_order.")]
    assert {e["subject"] for e in order_events} == {order["id"]}
    assert order_events[-1]["data"]["status"] == "paid"
    # The correlation id of the request that created the order travels with its events.
    assert {e.get("correlationid") for e in events} == {recorded[0]["correlationid"]}
    assert recorded[0]["correlationid"]


def test_v1_shows_the_events_data_as_v1_resources(
    gateway: str, crm: httpx.Client, sims: dict[str, str]
) -> None:
    order = new_order(crm, "GB01")
    wait_for(lambda: timeline(crm, order["id"]), "the accepted event")
    (v2,) = timeline(crm, order["id"], "v2")
    (v1,) = timeline(crm, order["id"], "v1")
    assert v1["id"] == v2["id"]
    assert "items" in v2["data"] and "lines" not in v2["data"]
    assert "lines" in v1["data"] and "items" not in v1["data"]
    assert v1["data"] == crm.get(f"/v1/sales-orders/{order['id']}").json()


def test_a_subscription_in_v1_or_of_a_client_pinned_to_v1_receives_v1_resources(
    gateway: str, crm: httpx.Client, subscriber: Subscriber
) -> None:
    order = new_order(crm, "GB01")

    def accepted(path: str) -> list[Receipt]:
        return [r for r in subscriber.receipts(path) if r.event["data"].get("id") == order["id"]]

    (newest,) = wait_for(lambda: accepted("/crm"), "the accepted event in v2")
    v1_order = crm.get(f"/v1/sales-orders/{order['id']}").json()
    for path in ("/in-v1", "/pinned-v1"):
        (receipt,) = wait_for(lambda path=path: accepted(path), f"the accepted event at {path}")
        event = verified(receipt)  # signed as it was sent, in v1
        assert event["id"] == receipt.headers["webhook-id"] == newest.event["id"]
        assert "lines" in event["data"] and "items" not in event["data"]
        assert event["data"] == v1_order
    assert "items" in newest.event["data"] and "lines" not in newest.event["data"]


def test_duplicate_and_out_of_order_notifications_give_each_event_once_in_order(
    gateway: str, crm: httpx.Client, sims: dict[str, str], subscriber: Subscriber
) -> None:
    push_to(sims, {"legacy": gateway, "cloud": gateway}, duplicates=True, reorder=True)
    try:
        order = new_order(crm, "DE01")
        for stage in LIFECYCLE:
            advance(sims, order, stage)
        flushed = httpx.post(f"{sims['legacy']}/_sim/notifications/flush").json()["flushed"]
        assert flushed == 1 + len(LIFECYCLE)  # held: sent newest first, each twice
        wait_for(
            lambda: httpx.get(f"{sims['legacy']}/_sim/notifications").json()["sent"] >= 2 * flushed,
            "the simulator to send every notification twice",
        )
    finally:
        push_to(sims, {"legacy": gateway, "cloud": gateway})
    recorded = timeline(crm, order["id"])
    assert types_of(recorded) == ORDER_EVENTS
    ids = [e["id"] for e in recorded]
    receipts = wait_for(
        lambda: (
            [r for r in subscriber.receipts("/crm") if r.event["id"] in ids]
            if len([r for r in subscriber.receipts("/crm") if r.event["id"] in ids]) >= len(ids)
            else []
        ),
        "the order's events at the subscriber",
    )
    assert [r.event["id"] for r in receipts] == ids


def test_a_replayed_or_stale_notification_records_nothing(
    gateway: str, crm: httpx.Client, sims: dict[str, str]
) -> None:
    order = new_order(crm, "GB01")
    wait_for(lambda: timeline(crm, order["id"]), "the accepted event")
    stale = {
        "specversion": "1.0",
        "type": "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1",
        "source": "/default/sap.s4.beh/TEST",
        "id": "replayed-1",
        "sequence": "1",
        "data": {"SalesOrder": order["erp_reference"]},
    }
    headers = {
        "Authorization": f"Bearer {LEGACY_SECRET}",
        "Content-Type": "application/cloudevents+json",
    }
    answer = httpx.post(f"{gateway}/erp-events/legacy", json=stale, headers=headers)
    assert (answer.status_code, answer.json()["outcome"]) == (202, "stale")
    assert types_of(timeline(crm, order["id"])) == ["sales_order.accepted"]
    for sequence in ("\u00b2", "\u2460"):  # digits to str.isdigit(), not to int()
        odd = httpx.post(
            f"{gateway}/erp-events/legacy", json={**stale, "sequence": sequence}, headers=headers
        )
        assert odd.status_code == 400
        assert odd.json()["errors"][0]["pointer"] == "/sequence"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Bearer {LEGACY_SECRET}"}, 415),  # undeclared: not read
        (
            {
                "Authorization": f"Bearer {LEGACY_SECRET}",
                "Content-Type": "application/cloudevents+json",
            },
            400,
        ),
    ],
)
def test_bad_or_unauthenticated_notifications_get_problems(
    gateway: str, headers: dict[str, str], status: int
) -> None:
    answer = httpx.post(f"{gateway}/erp-events/legacy", content=b"{not json", headers=headers)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    cloud = httpx.post(
        f"{gateway}/erp-events/cloud",
        json={"recordType": "salesOrder", "recordId": "1", "sequence": 1},
        headers={"X-Signature": "sha256=" + "0" * 64},
    )
    assert cloud.status_code == 401


def test_a_notification_with_two_credentials_is_refused_whichever_comes_first(
    gateway: str,
) -> None:
    # As the domain API answers two Authorization headers: a gateway that judged one of them
    # would judge another credential than a server in front of or behind it may.
    right, wrong = f"Bearer {LEGACY_SECRET}", "Bearer wrong"
    for first, second in ((right, wrong), (wrong, right)):
        answer = httpx.post(
            f"{gateway}/erp-events/legacy",
            content=b"{not json",
            headers=[("Authorization", first), ("Authorization", second)],
        )
        assert answer.status_code == 401, (first, second)
    signature = "sha256=" + "0" * 64
    cloud = httpx.post(
        f"{gateway}/erp-events/cloud",
        content=b"{}",
        headers=[("X-Signature", signature), ("X-Signature", signature)],
    )
    assert cloud.status_code == 401


def test_a_subscriber_down_for_a_while_receives_everything_after_it_recovers(
    gateway: str, crm: httpx.Client, sims: dict[str, str], subscriber: Subscriber
) -> None:
    subscriber.failing["/crm"] = lambda refusals: refusals < 2  # each event refused twice
    try:
        order = new_order(crm, "CA01")
        walk_to_paid(sims, crm, order)
        ids = [e["id"] for e in timeline(crm, order["id"])]
        wait_for(
            lambda: {r.event["id"] for r in subscriber.receipts("/crm")} >= set(ids),
            "every event after the subscriber recovered",
        )
    finally:
        del subscriber.failing["/crm"]
    with subscriber.lock:
        refused = [r.event["id"] for r in subscriber.refused if r.path == "/crm"]
    assert sorted(refused) == sorted(ids * 2)  # each was refused twice, then taken
    taken = [r.event["id"] for r in subscriber.receipts("/crm") if r.event["id"] in ids]
    assert sorted(taken) == sorted(ids)  # once each


def test_a_subscriber_down_past_the_last_retry_gets_its_dead_letters_on_replay(
    gateway: str,
    crm: httpx.Client,
    sims: dict[str, str],
    subscriber: Subscriber,
    events_config: Path,
) -> None:
    subscriber.failing["/flaky"] = lambda _: True
    order = new_order(crm, "US01")
    (accepted,) = wait_for(lambda: timeline(crm, order["id"]), "the accepted event")
    with client_for(gateway, token_for("ops-admin", events_config)) as admin:

        def dead() -> list[dict[str, Any]]:
            items = admin.get("/admin/events/dead-letters").json()["items"]
            return [d for d in items if d["event_id"] == accepted["id"]]

        (letter,) = wait_for(dead, "the dead letter")
        assert letter["subscription"] == "flaky"
        assert letter["attempts"] == 1 + len(RETRIES)
        assert letter["last_error"] == "HTTP 503"
        assert subscriber.events("/flaky", order["id"]) == []
        del subscriber.failing["/flaky"]
        listed = run_cli("events", "dead-letters", "--url", gateway, admin_token=admin_token(admin))
        assert f"{letter['id']}  sales_order.accepted  {order['id']}" in listed.stdout
        replay = run_cli(
            "events", "dead-letters", "--url", gateway, "--replay", letter["id"],
            admin_token=admin_token(admin),
        )  # fmt: skip
        assert replay.returncode == 0, replay.stderr
        assert f"{letter['id']}: due again" in replay.stdout
        (receipt,) = wait_for(
            lambda: [r for r in subscriber.receipts("/flaky") if r.event["id"] == accepted["id"]],
            "the replayed delivery",
        )
        assert verified(receipt)["id"] == accepted["id"]
        assert dead() == []
        again = admin.post(f"/admin/events/dead-letters/{letter['id']}/replay")
        assert again.status_code == 404


def test_an_event_of_a_legal_entity_the_client_may_not_see_is_never_delivered(
    gateway: str,
    crm: httpx.Client,
    sims: dict[str, str],
    subscriber: Subscriber,
    events_config: Path,
) -> None:
    hidden, shown = new_order(crm, "US01"), new_order(crm, "GB01")  # crm-emea: EMEA only
    hidden_events = wait_for(lambda: timeline(crm, hidden["id"]), "the US01 order's event")
    shown_events = wait_for(lambda: timeline(crm, shown["id"]), "the GB01 order's event")
    # Both delivered to the client that may see both: the worker has handled both events.
    wait_for(
        lambda: (
            {e["id"] for e in hidden_events + shown_events}
            <= {r.event["id"] for r in subscriber.receipts("/crm")}
        ),
        "both events at the crm-demo subscriber",
    )
    wait_for(
        lambda: shown_events[0]["id"] in {r.event["id"] for r in subscriber.receipts("/emea")},
        "the GB01 event at the crm-emea subscriber",
    )
    emea_ids = {r.event["id"] for r in subscriber.receipts("/emea")}
    assert hidden_events[0]["id"] not in emea_ids
    assert {r.event["legalentity"] for r in subscriber.receipts("/emea")} <= {
        "DE01",
        "FR01",
        "GB01",
    }
    # The polling fallback filters the same way.
    with client_for(gateway, token_for("crm-emea", events_config)) as emea:
        polled: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": 100} | ({"after": cursor} if cursor else {})
            page = emea.get("/v2/events", params=params)
            assert page.status_code == 200, page.text
            polled += page.json()
            next_cursor = page.headers["link"].split("after=")[1].split("&")[0]
            if not page.json():
                break
            cursor = next_cursor
    polled_ids = {e["id"] for e in polled}
    assert shown_events[0]["id"] in polled_ids
    assert hidden_events[0]["id"] not in polled_ids
    bad = crm.get("/v2/events", params={"after": "12-x"})
    assert bad.status_code == 400


@pytest.mark.parametrize("legal_entity", ["US01", "DE01"])
def test_a_held_order_and_a_cancelled_one_give_their_events(
    gateway: str, crm: httpx.Client, legal_entity: str
) -> None:
    customer = create_customer(crm, legal_entity, credit_limit="100.00")
    held = crm.post(
        "/v1/sales-orders", json=payloads.order(legal_entity, customer["id"]),
        headers=payloads.new_key(),
    )  # fmt: skip
    assert held.status_code == 201 and held.json()["status"] == "on_hold", held.text
    wait_for(lambda: timeline(crm, held.json()["id"]), "the on_hold event")
    assert types_of(timeline(crm, held.json()["id"])) == ["sales_order.on_hold"]
    order = new_order(crm, legal_entity)
    wait_for(lambda: timeline(crm, order["id"]), "the accepted event")
    cancelled = crm.post(f"/v1/sales-orders/{order['id']}/cancel", headers=payloads.new_key())
    assert cancelled.status_code == 200, cancelled.text
    wait_for(lambda: len(timeline(crm, order["id"])) == 2, "the cancelled event")
    events = timeline(crm, order["id"])
    assert types_of(events) == ["sales_order.accepted", "sales_order.cancelled"]
    assert events[1]["data"]["status"] == "cancelled"


@pytest.fixture(scope="module")
def redis_pair(
    sims: dict[str, str],
    events_config: Path,
    private_redis: RedisProcess,
    gateway: str,
) -> Iterator[tuple[str, str]]:
    """Two gateway processes on one Redis (a database of its own), each pushed to by one ERP."""
    redis_url = events_redis_url(private_redis)
    env = env_for(sims, events_config, redis_url)
    with start_gateway(env) as (first, _), start_gateway(env) as (second, _):
        push_to(sims, {"legacy": first, "cloud": second})
        try:
            yield first, second
        finally:
            push_to(sims, {"legacy": gateway, "cloud": gateway})


def events_redis_url(private_redis: RedisProcess) -> str:
    return private_redis.url.rsplit("/", 1)[0] + "/7"


def test_two_gateway_processes_on_one_redis_deliver_each_event_once(
    redis_pair: tuple[str, str],
    sims: dict[str, str],
    subscriber: Subscriber,
    events_config: Path,
    private_redis: RedisProcess,
) -> None:
    first, second = redis_pair
    token = token_for("crm-demo", events_config)
    with client_for(first, token) as one, client_for(second, token) as two:
        orders = [new_order(one, "DE01"), new_order(two, "US01")]
        for order in orders:
            walk_to_paid(sims, one, order)
        ids = [e["id"] for order in orders for e in timeline(two, order["id"])]
    assert len(ids) == 2 * len(ORDER_EVENTS)
    wait_for(
        lambda: set(ids) <= {r.event["id"] for r in subscriber.receipts("/crm")},
        "every event of both orders at the subscriber",
    )
    taken = [r.event["id"] for r in subscriber.receipts("/crm") if r.event["id"] in ids]
    assert sorted(taken) == sorted(ids)  # each once, whichever process sent it
    # Each order's timeline is kept as policies/operations.yaml says, from its last event.
    client = redis.Redis.from_url(events_redis_url(private_redis))
    try:
        kept_ms = [client.pttl(f"gw:{{events}}:timeline:{order['id']}") for order in orders]
    finally:
        client.close()
    assert all(0 < ms <= TIMELINE_RETENTION_S * 1000 for ms in kept_ms), kept_ms


@pytest.fixture(scope="module")
def polling_gateway(
    tmp_path_factory: pytest.TempPathFactory,
    sims: dict[str, str],
    subscriber: Subscriber,
    gateway: str,
) -> Iterator[str]:
    """A gateway that polls the legacy ERP (which does not push meanwhile)."""
    config_dir = write_config(
        tmp_path_factory.mktemp("polling-config"),
        subscriptions=subscriptions(subscriber.url),
        clients=PINNED_V1_CLIENT,
    )
    legacy = config_dir / "backends" / "legacy.yaml"
    text, found = re.subn(
        r"(?m)^  mode: push.*$", "  mode: poll\n  poll_interval_s: 0.5", legacy.read_text()
    )
    assert found == 1
    legacy.write_text(text)
    httpx.delete(f"{sims['legacy']}/_sim/notifications").raise_for_status()
    try:
        with start_gateway(env_for(sims, config_dir)) as (url, _):
            yield url
    finally:
        push_to(sims, {"legacy": gateway, "cloud": gateway})


def test_a_gateway_polls_an_erp_that_cannot_push_and_records_its_changes(
    polling_gateway: str, sims: dict[str, str], events_config: Path
) -> None:
    with client_for(polling_gateway, token_for("crm-demo", events_config)) as api:
        order = new_order(api, "GB01")
        wait_for(lambda: timeline(api, order["id"]), "the polled accepted event")
        advance(sims, order, "shipped")
        wait_for(
            lambda: "sales_order.shipped" in types_of(timeline(api, order["id"])),
            "the polled shipped event",
        )
        assert types_of(timeline(api, order["id"])) == ORDER_EVENTS[:4]
    notified = httpx.get(f"{sims['legacy']}/_sim/notifications").json()
    assert notified["enabled"] is False  # nothing was pushed: the gateway read the ERP

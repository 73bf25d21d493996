"""The operations dashboard in a real browser: headless Chromium (Debian's, driven by
Playwright) against a gateway of its own and the simulators, with every request that leaves the
gateway refused. An operator enters an admin token, sees where each legal entity's orders go,
finds a transaction the API just made by its correlation id, watches a failed one appear and
replays it from its Replay button, corrects and replays a rejected one, sees a webhook
subscription its subscriber's 410 disabled (since when, which URL, its dead letters) and enables
it, and reads a refused token as a message. The page loads nothing from elsewhere and logs no
error."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.api.dashboard import DASHBOARD_PATH
from gateway.app import build_app
from gateway.config.loader import load_config
from gateway.demo import ADMIN_CLIENT
from gateway.runtime import build_runtime
from gateway.store.events import DocumentState, EventRetention, NewEvent
from gateway.store.memory import MemoryStore
from tests.configs import copy_config, unheard_subscriber, write_config
from tests.e2e import payloads
from tests.e2e.browsers import (
    WatchedPage,
    skip_without_chromium,
    sync_api,
    watched_page,
)
from tests.e2e.checks import create_customer
from tests.e2e.gateways import client_for, start_gateway, token_for
from tests.fake_erp import FakeErp
from tests.harness import ENV
from tests.harness import token_for as harness_token_for
from tests.servers import serve_app

skip_without_chromium()
expect = sync_api.expect

# The page polls every 5 s; a transaction made while it is open shows within one poll.
POLL_MS = 8_000
# What Chromium logs for a fetch answered 4xx: expected when a test sends a refused token.
REFUSED_LOAD = "Failed to load resource: the server responded with a status of"


# A regional operator (README, clients.yaml): the admin API of its legal entities only.
REGIONAL_ADMIN = "ops-emea"
REGIONAL_OPERATOR = f"""
  - id: {REGIONAL_ADMIN}
    scopes: ["gateway:admin"]
    legal_entities: [DE01, FR01, GB01]
    rate_limit: standard
"""
EMEA = ["DE01", "FR01", "GB01"]  # its legal entities, as the page lists them


@pytest.fixture(scope="module")
def ops_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("ops-config"), clients=REGIONAL_OPERATOR)


@pytest.fixture(scope="module")
def ops_url(gateway_env: dict[str, str], ops_config: Path) -> Iterator[str]:
    """A gateway of this module's own, so its journal holds only what these tests made."""
    with start_gateway({**gateway_env, "GATEWAY_CONFIG_DIR": str(ops_config)}) as (url, _):
        yield url


@pytest.fixture
def crm(ops_url: str, ops_config: Path) -> Iterator[httpx.Client]:
    with client_for(ops_url, token_for("crm-demo", ops_config)) as client:
        yield client


@pytest.fixture
def admin_token(ops_config: Path) -> str:
    return token_for(ADMIN_CLIENT, ops_config)


@pytest.fixture
def admin(ops_url: str, admin_token: str) -> Iterator[httpx.Client]:
    with client_for(ops_url, admin_token) as client:
        yield client


@pytest.fixture
def browser(chromium: Any, ops_url: str) -> Iterator[WatchedPage]:
    with watched_page(chromium, ops_url) as seen:
        yield seen


def open_dashboard(browser: WatchedPage, token: str) -> Any:
    page = browser.page
    page.goto(browser.base_url + DASHBOARD_PATH)
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Connect").click()
    return page


def order_with(crm: httpx.Client, body: dict[str, Any]) -> tuple[httpx.Response, str]:
    """A sales order sent by the CRM under a correlation id of its own, which is returned."""
    correlation_id = f"ops-e2e-{uuid.uuid4().hex[:12]}"
    headers = {**payloads.new_key(), "X-Correlation-ID": correlation_id}
    return crm.post("/v1/sales-orders", json=body, headers=headers), correlation_id


def journal_entry(admin: httpx.Client, correlation_id: str) -> dict[str, Any]:
    """The one journal entry the correlation id belongs to, as the admin API shows it."""
    found = admin.get("/admin/transactions", params={"correlation_id": correlation_id})
    assert found.status_code == 200, found.text
    (entry,) = found.json()["items"]
    detail = admin.get(f"/admin/transactions/{entry['id']}")
    assert detail.status_code == 200, detail.text
    body: dict[str, Any] = detail.json()
    return body


def filter_by_correlation_id(page: Any, correlation_id: str) -> Any:
    """The live list filtered to one correlation id; its rows."""
    page.get_by_label("Correlation id").fill(correlation_id)
    page.get_by_role("button", name="Filter").click()
    return page.locator("#transactions tbody tr")


def test_an_operator_finds_a_new_transaction_and_replays_a_failed_one_from_the_page(
    browser: WatchedPage,
    crm: httpx.Client,
    admin: httpx.Client,
    admin_token: str,
    cloud: httpx.Client,
) -> None:
    customer = create_customer(crm, "US01")
    placed, placed_id = order_with(crm, payloads.order("US01", customer["id"]))
    assert placed.status_code == 201, placed.text

    page = open_dashboard(browser, admin_token)
    # The transaction the API just made is in the live list, by its correlation id.
    row = page.locator("#transactions tbody tr", has_text=placed_id)
    expect(row).to_contain_text("accepted")
    expect(row).to_contain_text(placed.json()["erp_reference"])
    # The migration map puts each legal entity's new orders where the gateway says they go.
    overview = admin.get("/admin/overview").json()
    columns = page.locator("#map thead th").all_inner_texts()
    for entry in overview["migration_map"]:
        cells = page.locator(f'#map tbody tr[data-key="{entry["legal_entity"]}"] > *')
        here = cells.nth(columns.index(entry["backend"]))
        expect(here).to_contain_text(f"new orders now rule {entry['rule']}")
    shown = filter_by_correlation_id(page, placed_id)
    expect(shown).to_have_count(1)
    expect(shown).to_contain_text(placed_id)

    # The cloud ERP fails the next order; it appears among the failed ones while the page is
    # open, and the operator replays it once the ERP is back.
    cloud.post(
        "/_sim/faults", json={"mode": "error", "status": 503, "operations": ["sales_orders.create"]}
    )
    failed, failed_id = order_with(crm, payloads.order("US01", customer["id"]))
    assert failed.status_code == 503, failed.text
    cloud.delete("/_sim/faults")
    transaction = journal_entry(admin, failed_id)["id"]
    replay = page.locator(f'#failed button[data-replay="{transaction}"]')
    replay.click(timeout=POLL_MS)

    expect(page.locator("#attention-outcome")).to_contain_text(
        f"Replayed {transaction}: answered 201; the transaction is now accepted"
    )
    expect(replay).to_have_count(0)
    shown = filter_by_correlation_id(page, failed_id)
    expect(shown).to_have_count(1)
    expect(shown.locator("[data-status]")).to_have_text("accepted")
    # The ERP holds the replayed order, read back through the API by its gateway id.
    replayed = journal_entry(admin, failed_id)
    assert replayed["status"] == "accepted"
    read = crm.get(f"/v1/sales-orders/{replayed['gateway_id']}")
    assert read.status_code == 200, read.text
    assert read.json()["external_ref"] == replayed["request"]["body"]["external_ref"]
    expect(shown).to_contain_text(read.json()["erp_reference"])

    assert browser.refused == []
    assert browser.errors == []


def test_a_rejected_order_is_corrected_and_replayed_from_its_details(
    browser: WatchedPage, crm: httpx.Client, admin: httpx.Client, admin_token: str
) -> None:
    customer = create_customer(crm, "DE01")
    body = payloads.order("DE01", customer["id"])
    body["lines"][0]["sku"] = "NOPE-1"
    rejected, correlation_id = order_with(crm, body)
    assert rejected.status_code == 422, rejected.text
    transaction = journal_entry(admin, correlation_id)["id"]

    page = open_dashboard(browser, admin_token)
    filter_by_correlation_id(page, correlation_id)
    page.locator(f'#transactions button[data-transaction="{transaction}"]').click()
    detail = page.locator("#detail")
    expect(detail.locator("#detail-body")).to_contain_text("unknown_sku")
    editor = page.get_by_label("Corrected request body")
    expect(editor).to_have_value(re.compile('"sku": "NOPE-1"'))
    editor.fill(editor.input_value().replace('"NOPE-1"', '"WIDGET-1"'))
    page.get_by_role("button", name="Replay with this body").click()

    expect(detail.locator("#detail-outcome")).to_contain_text(
        f"Replayed {transaction}: answered 201; the transaction is now accepted"
    )
    corrected = journal_entry(admin, correlation_id)
    assert corrected["status"] == "accepted"
    assert corrected["request"]["body"]["lines"][0]["sku"] == "WIDGET-1"
    # Drawn again for its new status: the states of both attempts, no editor any more.
    expect(detail.locator(".timeline li")).to_have_count(len(corrected["states"]))
    expect(detail.locator(".timeline")).to_contain_text(f"replay by {ADMIN_CLIENT}")
    expect(detail.locator("[data-status]").first).to_have_text("accepted")
    expect(editor).to_have_count(0)

    assert browser.refused == []
    assert browser.errors == []


def test_more_is_not_offered_while_the_first_page_of_new_filters_loads(
    browser: WatchedPage, crm: httpx.Client, admin_token: str
) -> None:
    # "More" stayed on screen after the filters changed, until their first page came: a click
    # then fetched that first page again under More, and the page's own arrival replaced it,
    # so the click was lost (seen under load as a flaky test of More).
    for _ in range(26):  # more than a page in CA01, and in all entities together
        create_customer(crm, "CA01")
    page = open_dashboard(browser, admin_token)
    more = page.get_by_role("button", name="More")
    expect(more).to_be_visible()
    held: list[Any] = []

    def filtered(url: str) -> bool:
        return "legal_entity=CA01" in url

    def hold(route: Any) -> None:
        held.append(route)

    page.route(filtered, hold)
    page.get_by_label("Legal entity").select_option("CA01")
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held, "the filtered first page was never asked for"
    expect(more).to_be_hidden()
    page.unroute(filtered)
    for route in held:
        route.continue_()
    expect(more).to_be_visible()
    expect(page.locator("#transactions tbody tr")).to_have_count(25)
    assert browser.errors == []


def test_more_lists_older_transactions_and_the_list_stays_whole_as_new_ones_arrive(
    browser: WatchedPage, crm: httpx.Client, admin_token: str
) -> None:
    made = 30  # more than the page lists at first
    for _ in range(made):
        create_customer(crm, "SG01")

    page = open_dashboard(browser, admin_token)
    page.get_by_label("Legal entity").select_option("SG01")
    rows = page.locator("#transactions tbody tr")
    more = page.get_by_role("button", name="More")
    expect(more).to_be_visible()
    first_page = rows.count()
    assert 0 < first_page < made
    while more.is_visible():
        more.click()
        expect(rows).not_to_have_count(first_page)
        first_page = rows.count()
    expect(rows).to_have_count(made)
    # The next poll brings the new one in on top and keeps the older pages below it.
    create_customer(crm, "SG01")
    expect(rows).to_have_count(made + 1, timeout=POLL_MS)
    expect(more).to_be_hidden()
    # More new ones than a page between two polls: the first page no longer reaches the rows
    # shown; the list starts again from it (More brings the rest) rather than leave out the
    # one in between.
    burst = 26  # the page's 25, and one
    for _ in range(burst):
        create_customer(crm, "SG01")
    page.wait_for_timeout(POLL_MS)
    while more.is_visible():
        shown = rows.count()
        more.click()
        expect(rows).not_to_have_count(shown)
    expect(rows).to_have_count(made + 1 + burst)
    assert browser.refused == []
    assert browser.errors == []


@pytest.mark.parametrize(
    ("client", "shown"),
    [
        ("crm-demo", "This token may not use the admin API (403 forbidden)"),
        (None, "The gateway refused the token (401 unauthorized)"),
    ],
)
def test_a_refused_token_is_said_so_on_the_page_and_asked_for_again(
    browser: WatchedPage, ops_config: Path, client: str | None, shown: str
) -> None:
    token = token_for(client, ops_config) if client else "not-a-token"
    page = open_dashboard(browser, token)

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(shown)
    expect(page.get_by_label("Admin token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert browser.refused == []
    assert [e for e in browser.errors if not e.startswith(REFUSED_LOAD)] == []


def customer_with(crm: httpx.Client, legal_entity: str) -> str:
    """A customer created by the CRM under a correlation id of its own, which is returned."""
    correlation_id = f"ops-e2e-{uuid.uuid4().hex[:12]}"
    created = crm.post(
        "/v1/customers",
        json=payloads.customer(legal_entity),
        headers={"X-Correlation-ID": correlation_id},
    )
    assert created.status_code == 201, created.text
    return correlation_id


def test_a_regional_operator_sees_its_legal_entities_map_and_transactions_and_no_more(
    browser: WatchedPage, crm: httpx.Client, ops_config: Path
) -> None:
    own = customer_with(crm, "DE01")
    other = customer_with(crm, "US01")
    page = open_dashboard(browser, token_for(REGIONAL_ADMIN, ops_config))

    rows = page.locator("#transactions tbody tr")
    expect(rows.filter(has_text=own)).to_have_count(1)
    # Its overview: the migration map of its legal entities, the filter offering those only,
    # and no ERP retries (counted for every entity together), said so.
    expect(page.locator('#map tbody tr[data-key="DE01"]')).to_contain_text("new orders now")
    expect(page.locator("#map tbody tr")).to_have_count(len(EMEA))
    expect(page.locator('#map tbody tr[data-key="US01"]')).to_have_count(0)
    offered = page.get_by_label("Legal entity").locator("option")
    expect(offered).to_have_text(["any", *EMEA])
    expect(page.locator("#retries")).to_contain_text("not shown")
    expect(page.locator("#overview-refused")).to_be_hidden()
    expect(page.locator("#freshness")).to_contain_text("configuration")
    # The panel about the whole gateway says why it is empty; the page stays connected.
    needs = "needs an admin client of every legal entity"
    expect(page.locator("#subscriptions-refused")).to_contain_text(needs)
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(page.get_by_role("button", name="Forget token")).to_be_visible()
    expect(rows.filter(has_text=other)).to_have_count(0)
    assert set(rows.locator("td:nth-child(5)").all_inner_texts()) <= set(EMEA)
    filter_by_correlation_id(page, other)
    expect(page.locator("#transactions tbody")).to_contain_text("No transactions match")
    assert browser.refused == []
    assert [e for e in browser.errors if not e.startswith(REFUSED_LOAD)] == []


HOOK = "crm-demo-hook"  # the repository's subscription (policies/subscriptions.yaml)
EVENTS_FOR_HOOK = 3


@pytest.fixture
def gone_subscriber() -> Iterator[str]:
    """A webhook subscriber whose endpoint is gone for good: 410 to every delivery. Its URL."""

    class Gone(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(410)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gone)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks"
    finally:
        server.shutdown()
        server.server_close()


async def events_for(store: MemoryStore, subscription: str, count: int) -> None:
    """`count` events of one order recorded for `subscription`, their deliveries due now."""
    order = f"so_{uuid.uuid4().hex}"
    for sequence in range(1, count + 1):
        event_id = f"evt_{uuid.uuid4().hex}"
        new = NewEvent(event_id, order, json.dumps({"id": event_id}), (subscription,))
        state = DocumentState(sequence, {})
        assert await store.events.commit(
            f"d:{order}", sequence - 1, state, [new], time.time(), EventRetention()
        )


def test_an_operator_sees_a_subscription_a_410_disabled_with_its_dead_letters_and_enables_it(
    chromium: Any, tmp_path: Path, gone_subscriber: str
) -> None:
    config_dir = copy_config(tmp_path)
    subscriptions = config_dir / "policies" / "subscriptions.yaml"
    subscriptions.write_text(
        subscriptions.read_text().replace(unheard_subscriber(), gone_subscriber)
    )
    config = load_config(config_dir, env=ENV)
    store = MemoryStore()
    # Its events wait when the gateway starts: the first is sent, answered 410, and the
    # subscription is disabled; the others are kept as dead letters untried.
    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as recorder:
        recorder.submit(asyncio.run, events_for(store, HOOK, EVENTS_FOR_HOOK)).result()
    runtime = build_runtime(config, store, ENV, adapters={n: FakeErp(n) for n in config.backends})
    app = build_app(runtime, config_dir=config_dir, watch_config=False)
    admin_token = harness_token_for(ADMIN_CLIENT)
    headers = {"Authorization": f"Bearer {admin_token}"}
    with serve_app(app, ready_path="/healthz") as url, watched_page(chromium, url) as browser:
        page = open_dashboard(browser, admin_token)
        row = page.locator(f'#subscriptions tbody tr[data-key="{HOOK}"]')
        expect(row.locator("[data-status]")).to_have_text("disabled", timeout=POLL_MS)
        expect(row.locator(".dead-letters")).to_have_text(str(EVENTS_FOR_HOOK), timeout=POLL_MS)
        listed = httpx.get(f"{url}/admin/events/subscriptions", headers=headers).json()
        (item,) = [i for i in listed["items"] if i["id"] == HOOK]
        assert item["dead_letters"] == EVENTS_FOR_HOOK
        # Since when, and which URL's 410, as the store recorded it.
        expect(row.locator("time")).to_have_attribute("datetime", item["disabled"]["at"])
        expect(row).to_contain_text(f"HTTP 410 from {gone_subscriber}")

        row.get_by_role("button", name=f"Enable {HOOK}").click()
        outcome = page.locator("#subscriptions-outcome")
        expect(outcome).to_contain_text(f"Enabled {HOOK}")
        # The page cannot replay dead letters: it says how, for this subscription's only.
        expect(outcome).to_contain_text(
            f"gateway events dead-letters --subscription {HOOK} --replay"
        )
        expect(row.locator("[data-status]")).to_have_text("enabled")
        expect(row.get_by_role("button", name=f"Enable {HOOK}")).to_have_count(0)
        after = httpx.get(f"{url}/admin/events/subscriptions", headers=headers).json()
        assert [i["state"] for i in after["items"] if i["id"] == HOOK] == ["enabled"]
        assert browser.refused == []
        assert browser.errors == []

"""The operations dashboard in a real browser: headless Chromium (Debian's, driven by
Playwright) against a gateway of its own and the simulators, with every request that leaves the
gateway refused. An operator enters an admin token, sees where each legal entity's orders go,
finds a transaction the API just made by its correlation id, watches a failed one appear and
replays it from its Replay button, corrects and replays a rejected one, and reads a refused
token as a message. The page loads nothing from elsewhere and logs no error."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.api.dashboard import DASHBOARD_PATH
from gateway.demo import ADMIN_CLIENT
from tests.configs import write_config
from tests.e2e import payloads
from tests.e2e.browsers import (
    WatchedPage,
    skip_without_chromium,
    sync_api,
    watched_page,
)
from tests.e2e.checks import create_customer
from tests.e2e.gateways import client_for, start_gateway, token_for

skip_without_chromium()
expect = sync_api.expect

# The page polls every 5 s; a transaction made while it is open shows within one poll.
POLL_MS = 8_000
# What Chromium logs for a fetch answered 4xx: expected when a test sends a refused token.
REFUSED_LOAD = "Failed to load resource: the server responded with a status of"


@pytest.fixture(scope="module")
def ops_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("ops-config"))


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

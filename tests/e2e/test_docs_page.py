"""The API reference page in a real browser: headless Chromium (Debian's, driven by Playwright)
against a running gateway, with every request that leaves the gateway refused. The page must
render both versions' operations, show the Idempotency-Key header on the order create, and send
a request with a pasted token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.api.openapi import openapi_document
from gateway.domain.versions import LATEST, VERSIONS
from tests.e2e.browsers import WatchedPage, skip_without_chromium, watched_page
from tests.e2e.checks import create_customer

skip_without_chromium()


@dataclass
class Browser(WatchedPage):
    """The reference page, and how a reader finds their way around it."""

    def open_docs(self) -> None:
        self.page.goto(f"{self.base_url}/docs")
        self.page.wait_for_selector(".opblock")

    def show_version(self, version: str) -> None:
        """Pick `version` in the page's definition switch and wait for its operations."""
        self.page.select_option("#select", label=version)
        self.page.wait_for_selector(f'.opblock-summary-path[data-path^="/{version}/"]')

    def operation(self, version: str, method: str, path: str) -> Any:
        op = openapi_document(version)["paths"][path][method]
        tag = op["tags"][0]
        return self.page.locator(f"#operations-{tag}-{op['operationId']}")

    def operations_shown(self) -> set[tuple[str, str]]:
        blocks = self.page.locator(".opblock").all()
        return {
            (
                block.locator(".opblock-summary-method").inner_text().lower(),
                block.locator(".opblock-summary-path").get_attribute("data-path"),
            )
            for block in blocks
        }


@pytest.fixture
def browser(chromium: Any, gateway_url: str) -> Iterator[Browser]:
    with watched_page(chromium, gateway_url) as seen:
        yield Browser(seen.page, seen.base_url, seen.refused, seen.errors)


def test_the_docs_page_lists_every_operation_of_each_version_and_loads_nothing_from_elsewhere(
    browser: Browser,
) -> None:
    browser.open_docs()
    shown = {}
    for version in (LATEST, *(v for v in VERSIONS if v != LATEST)):
        if version != LATEST:
            browser.show_version(version)
        shown[version] = browser.operations_shown()

    for version in VERSIONS:
        paths = openapi_document(version)["paths"]
        expected = {(method, path) for path, ops in paths.items() for method in ops}
        assert shown[version] == expected, version
    assert browser.refused == []
    assert browser.errors == []


@pytest.mark.parametrize("version", VERSIONS)
def test_the_order_create_shows_the_idempotency_key_header(browser: Browser, version: str) -> None:
    browser.open_docs()
    if version != LATEST:
        browser.show_version(version)
    create = browser.operation(version, "post", f"/{version}/sales-orders")
    create.locator(".opblock-summary").click()

    header = create.locator('tr[data-param-name="Idempotency-Key"][data-param-in="header"]')
    header.wait_for()
    assert "Required for sales-order creates" in header.inner_text()


def test_a_request_tried_from_the_page_with_a_token_reaches_the_gateway(
    browser: Browser, api: httpx.Client, token: str
) -> None:
    customer = create_customer(api, "US01")
    browser.open_docs()
    browser.page.click("button.authorize")
    browser.page.fill(".auth-container input", token)
    browser.page.click(".auth-btn-wrapper button.authorize")
    browser.page.click(".auth-btn-wrapper button.btn-done")

    find = browser.operation(LATEST, "get", f"/{LATEST}/customers")
    find.locator(".opblock-summary").click()
    find.locator("button.try-out__btn").click()
    find.locator('tr[data-param-name="external_ref"] input').fill(customer["external_ref"])
    find.locator("button.execute").click()

    answer = find.locator(".live-responses-table .response").first
    answer.wait_for()
    assert answer.locator(".response-col_status").inner_text().strip() == "200"
    assert customer["id"] in answer.locator(".response-col_description").inner_text()
    assert browser.refused == []

"""Headless Chromium (Debian's, driven by Playwright) for the pages the gateway serves, each
page watched: every request that leaves the gateway is refused and recorded, and every script
error or console error is kept, so a test can assert the page needed nothing from elsewhere.

Not the tests themselves (see test_docs_page.py, test_ops_dashboard.py).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags seen to start Chromium headless and quiet in a root container with no network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


def skip_without_chromium() -> None:
    """Skip the calling test module where no Chromium is installed."""
    if CHROMIUM is None:
        pytest.skip(
            "chromium is not installed (apt-get install chromium; .ci/run installs it)",
            allow_module_level=True,
        )


@contextlib.contextmanager
def launched_chromium() -> Iterator[Any]:
    """One headless Chromium; Playwright gives it a new, empty profile directory."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class WatchedPage:
    """One page on the gateway, and what it tried to load from elsewhere, threw or logged as
    an error."""

    page: Any
    base_url: str
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def watched_page(chromium: Any, base_url: str) -> Iterator[WatchedPage]:
    """A page in a fresh context (no cookies, storage or authorization from other tests) that
    may reach `base_url` only."""
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    seen = WatchedPage(page, base_url)

    def only_the_gateway(route: Any) -> None:
        url = route.request.url
        if url.startswith(base_url + "/"):
            route.continue_()
        else:
            seen.refused.append(url)
            route.abort()

    page.route("**/*", only_the_gateway)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    # A load the page's Content-Security-Policy refuses (a CDN script, a web font) never reaches
    # the route above; the browser reports it as a console error instead.
    page.on(
        "console",
        lambda message: seen.errors.append(message.text) if message.type == "error" else None,
    )
    try:
        yield seen
    finally:
        context.close()

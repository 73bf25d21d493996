"""The operations dashboard's routes: the page at `/ops` without a token, its assets from the
gateway only, under a policy that refuses anything else; the admin API it reads still needs
the admin scope. (The page at work in a browser: tests/e2e/test_ops_dashboard.py.)"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib import resources

import httpx
import pytest

from gateway.api.dashboard import ASSET_TYPES, DASHBOARD_PATH, FILES_DIR
from gateway.demo import ADMIN_CLIENT
from gateway.pipeline.journal import STATUSES
from gateway.store.memory import MemoryStore
from tests.harness import REPO, Gateway, in_process_gateway


class _Page(HTMLParser):
    """What a page loads (src, href), its inline scripts and styles, its status choices."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline: list[str] = []
        self.statuses: list[str] = []
        self._in: list[str] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for name in ("src", "href"):
            if named.get(name) is not None:
                self.references.append(str(named[name]))
        if "style" in named or tag == "style" or any(n.startswith("on") for n in named):
            self.inline.append(self.get_starttag_text() or tag)
        if tag == "select":
            self._select = named.get("name")
        if tag == "option" and self._select == "status" and named.get("value"):
            self.statuses.append(str(named["value"]))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script" and data.strip():
            self.inline.append(data)


def _parsed(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with in_process_gateway(MemoryStore()) as gw:
        yield gw


def _anonymous(gw: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gw.app), base_url="http://gw.test")


async def test_the_page_is_served_without_a_token_and_loads_only_the_gateways_own_assets(
    gateway: Gateway,
) -> None:
    async with _anonymous(gateway) as browser:
        page = await browser.get(DASHBOARD_PATH)
        parsed = _parsed(page.text)
        assets = {path: await browser.get(path) for path in parsed.references}

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    assert parsed.inline == []  # the policy below would refuse them: the page would break
    assert {path.rsplit("/", 1)[-1] for path in parsed.references} == set(ASSET_TYPES)
    for path, asset in assets.items():
        assert path.startswith(f"{DASHBOARD_PATH}/assets/"), path
        assert asset.status_code == 200, path
        assert asset.headers["content-type"] == ASSET_TYPES[path.rsplit("/", 1)[-1]]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"


async def test_the_page_policy_allows_this_gateway_only_and_no_inline_script(
    gateway: Gateway,
) -> None:
    async with _anonymous(gateway) as browser:
        page = await browser.get(DASHBOARD_PATH)

    policy = page.headers["content-security-policy"].split("; ")
    directives = {name: value for name, _, value in (part.partition(" ") for part in policy)}
    assert directives["default-src"] == "'none'"
    for kind in ("script-src", "style-src", "img-src", "connect-src"):
        assert directives[kind] == "'self'", kind
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'none'"  # a token typed in never travels in a URL
    assert directives["require-trusted-types-for"] == "'script'"


async def test_the_status_filter_offers_every_status_a_transaction_can_have(
    gateway: Gateway,
) -> None:
    async with _anonymous(gateway) as browser:
        page = await browser.get(DASHBOARD_PATH)

    assert _parsed(page.text).statuses == list(STATUSES)


async def test_the_admin_api_the_page_reads_still_needs_an_admin_token(gateway: Gateway) -> None:
    async with (
        _anonymous(gateway) as anonymous,
        gateway.client() as crm,
        gateway.client(ADMIN_CLIENT) as admin,
    ):
        without = await anonymous.get("/admin/overview")
        not_admin = await crm.get("/admin/overview")
        granted = await admin.get("/admin/overview")

    assert (without.status_code, without.json()["code"]) == (401, "unauthorized")
    assert (not_admin.status_code, not_admin.json()["code"]) == (403, "forbidden")
    assert granted.status_code == 200


def test_every_file_of_the_page_is_shipped_as_package_data() -> None:
    """A wheel (the container image installs one) carries only the data files pyproject.toml
    names: a file the page needs and the patterns miss would be missing in production."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["gateway.api"]
    folder = resources.files("gateway.api") / FILES_DIR
    files = [f"{FILES_DIR}/{entry.name}" for entry in folder.iterdir() if entry.is_file()]

    assert files
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name

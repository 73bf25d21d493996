"""The operations dashboard at `/ops`: one page an operator keeps open all day (the migration
map, each backend's breaker, the business figures, transactions live, replays), its files
served by the gateway from this package; it asks for an admin token and reads the admin API.

Not the admin API it reads (see `operations.py`) nor the API reference page (see `docs.py`).
"""

from __future__ import annotations

import functools
import html
from importlib import resources
from string import Template

from gateway.api.static_site import CSS, JS, SVG, Asset, StaticSite, asset_prefix, published
from gateway.pipeline.journal import STATUSES

DASHBOARD_PATH = "/ops"
ASSETS_PATH = f"{DASHBOARD_PATH}/assets"
# The page's files, package data of `gateway.api` (pyproject.toml ships the folder).
FILES_DIR = "dashboard_files"
_PAGE = "index.html"
ASSET_TYPES = {"ops.css": CSS, "ops.js": JS, "ops.svg": SVG}

# Nothing but this gateway: no inline script or style, no frames, no form posts, and (where
# the browser knows Trusted Types) no string ever parsed as HTML by the page's script.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "require-trusted-types-for 'script'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    # The page names its assets by digest: fetched anew, it always loads the current ones.
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
}


def _status_options() -> str:
    return "".join(
        f'<option value="{html.escape(s)}">{html.escape(s.replace("_", " "))}</option>'
        for s in STATUSES
    )


@functools.cache
def dashboard_site() -> StaticSite:
    """The dashboard page and its assets, read from the package once per process."""
    folder = resources.files(__package__) / FILES_DIR
    files = {name: Asset((folder / name).read_bytes(), kind) for name, kind in ASSET_TYPES.items()}
    prefix = asset_prefix(ASSETS_PATH, files)
    page = Template((folder / _PAGE).read_text(encoding="utf-8")).substitute(
        assets=prefix, status_options=_status_options()
    )
    return StaticSite(page.encode(), published(prefix, files))

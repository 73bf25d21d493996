"""A page and the assets it loads, built once and served from memory, the assets under a path
holding a digest of their content: a browser may cache them for good, never runs a stale one.

Not what a page holds (see `docs.py`, `dashboard.py`) nor its routes (see `gateway.app`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

HTML = "text/html; charset=utf-8"
JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
PNG = "image/png"
SVG = "image/svg+xml"

# Asset paths carry a digest of their content, so they may be cached for good.
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Asset:
    content: bytes
    media_type: str


@dataclass(frozen=True)
class StaticSite:
    """The page and every asset it loads, by URL path: bytes read and built once."""

    page: bytes
    assets: dict[str, Asset]


def asset_prefix(assets_path: str, files: Mapping[str, Asset]) -> str:
    """Where `files` are published under `assets_path`: a folder named by a digest of every
    file's name and content, so that any change moves them all to a new URL."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].content)
    return f"{assets_path}/{digest.hexdigest()[:16]}"


def published(prefix: str, files: Mapping[str, Asset]) -> dict[str, Asset]:
    """`files` by the URL path each is served at."""
    return {f"{prefix}/{name}": asset for name, asset in files.items()}

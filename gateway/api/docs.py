"""The API reference page at `/docs`: Swagger UI over both OpenAPI documents (a version switch,
every parameter, header, schema constraint and problem example, and "Try it out" with a bearer
token), its assets served by the gateway from the `swagger-ui-bundle-v2` package, never a CDN.

Not the OpenAPI documents themselves (see `openapi.py`) nor the changelog (see `changelog.py`).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from swagger_ui_bundle import swagger_ui_path

from gateway.api.static_site import CSS, JS, PNG, Asset, StaticSite, asset_prefix, published
from gateway.domain.versions import LATEST, VERSIONS

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
# What the page loads from the package (not its source maps, templates or ES-module builds).
_VENDORED = {
    "swagger-ui.css": CSS,
    "index.css": CSS,
    "swagger-ui-bundle.js": JS,
    "swagger-ui-standalone-preset.js": JS,
    "favicon-32x32.png": PNG,
}
_INITIALIZER = "docs.js"

# The browser refuses anything from elsewhere, so a page that works here works offline. Swagger
# UI sets inline styles (React), hence 'unsafe-inline' for styles only; its SVG icons are data:.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}

_SETTINGS: dict[str, Any] = {
    "urls": [{"url": f"/openapi/{v}.json", "name": v} for v in reversed(VERSIONS)],
    "urls.primaryName": LATEST,  # `/docs?urls.primaryName=v1` opens another version
    "dom_id": "#swagger-ui",
    "layout": "StandaloneLayout",
    "deepLinking": True,
    "validatorUrl": None,  # no badge fetched from swagger.io
    "docExpansion": "list",
    "filter": True,
    "showCommonExtensions": True,  # a parameter's pattern, lengths, bounds
    "displayRequestDuration": True,
    "requestSnippetsEnabled": True,  # the curl command of each tried request
    "defaultModelExpandDepth": 3,
    "persistAuthorization": False,  # a pasted token is forgotten with the tab
}
_INITIALIZER_JS = """\
window.addEventListener("load", function () {
  var settings = %s;
  settings.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];
  settings.plugins = [SwaggerUIBundle.plugins.DownloadUrl];
  window.ui = SwaggerUIBundle(settings);
});
"""

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ERP coexistence gateway: API reference</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="stylesheet" href="{assets}/index.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<noscript>This page needs JavaScript. The OpenAPI documents are at {documents}; the changelog
at <a href="/changelog">/changelog</a>.</noscript>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui-standalone-preset.js"></script>
<script src="{assets}/{initializer}"></script>
</body>
</html>
"""


@functools.cache
def docs_site() -> StaticSite:
    """The reference page and its assets, built once per process."""
    files = {
        name: Asset((swagger_ui_path / name).read_bytes(), kind) for name, kind in _VENDORED.items()
    }
    initializer = _INITIALIZER_JS % json.dumps(_SETTINGS, indent=2)
    files[_INITIALIZER] = Asset(initializer.encode(), JS)
    prefix = asset_prefix(ASSETS_PATH, files)
    documents = ", ".join(
        f'<a href="/openapi/{v}.json">/openapi/{v}.json</a>' for v in reversed(VERSIONS)
    )
    page = _PAGE.format(assets=prefix, documents=documents, initializer=_INITIALIZER)
    return StaticSite(page.encode(), published(prefix, files))

"""The API reference page at `/docs`: one self-contained HTML page rendered from the OpenAPI
documents, with its CSS and script inline (no CDN, no external fonts).

Not the OpenAPI documents themselves (see `openapi.py`).
"""

from __future__ import annotations

import functools
import json
from html import escape
from typing import Any

from gateway.api.openapi import openapi_document
from gateway.domain.versions import LATEST, VERSIONS

Document = dict[str, Any]

_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430}
header{background:#1d2430;color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.3rem}
nav{display:flex;gap:.5rem;margin-top:.5rem}
nav button{background:#334;color:#fff;border:1px solid #556;padding:.3rem .9rem;cursor:pointer}
nav button[aria-selected=true]{background:#fff;color:#1d2430}
main{padding:1rem 2rem;max-width:70rem}section.version[hidden]{display:none}
.op{border:1px solid #d5dae1;border-radius:6px;margin:.8rem 0;padding:.6rem 1rem}
.method{font-weight:700;font-family:monospace;padding:.1rem .4rem;border-radius:3px;color:#fff}
.get{background:#2f7d32}.post{background:#1565c0}code,pre{font-family:ui-monospace,monospace}
pre{background:#f4f6f8;padding:.6rem;overflow:auto;font-size:13px}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #d5dae1;padding:.2rem .5rem}
.schema{margin:.6rem 0}.muted{color:#5b6573}
"""

_SCRIPT = """
document.querySelectorAll("nav button").forEach(function (b) {
  b.addEventListener("click", function () {
    document.querySelectorAll("nav button").forEach(function (o) {
      o.setAttribute("aria-selected", String(o === b));
    });
    document.querySelectorAll("section.version").forEach(function (s) {
      s.hidden = s.id !== b.dataset.version;
    });
  });
});
"""


def _type_of(version: str, schema: Document) -> str:
    """A schema's type in words, linking to the component schemas it refers to."""
    if "$ref" in schema:
        name = escape(schema["$ref"].rsplit("/", 1)[-1])
        return f'<a href="#{version}-schema-{name}">{name}</a>'
    if "anyOf" in schema:
        return " | ".join(_type_of(version, s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type_of(version, schema.get('items', {}))}"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(str(e))}</code>" for e in schema["enum"])
    return escape(str(schema.get("type", "any")))


def _schema_table(version: str, name: str, schema: Document) -> str:
    rows = []
    required = set(schema.get("required", []))
    for field, prop in schema.get("properties", {}).items():
        kind = _type_of(version, prop)
        rows.append(
            f"<tr><td><code>{escape(field)}</code></td><td>{kind}</td>"
            f"<td>{'required' if field in required else ''}</td></tr>"
        )
    body = "".join(rows) or f"<tr><td colspan=3>{_type_of(version, schema)}</td></tr>"
    return (
        f'<div class="schema" id="{version}-schema-{escape(name)}"><h4>{escape(name)}</h4>'
        f"<table><tr><th>field</th><th>type</th><th></th></tr>{body}</table></div>"
    )


def _operation_html(version: str, method: str, path: str, op: Document) -> str:
    parts = [
        f'<div class="op" id="{version}-{escape(op["operationId"])}">',
        f'<span class="method {method}">{method.upper()}</span> <code>{escape(path)}</code>',
        f" <span class=muted>{escape(op.get('summary', ''))}</span>",
    ]
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        parts.append(f"<p>Request body: {_type_of(version, body['schema'])}</p>")
        if "example" in body:
            parts.append(f"<pre>{escape(json.dumps(body['example'], indent=2))}</pre>")
    statuses = ", ".join(f"<code>{escape(s)}</code>" for s in op["responses"])
    parts.append(f"<p>Responses: {statuses}</p></div>")
    return "".join(parts)


def _version_html(version: str, document: Document) -> str:
    ops = [
        _operation_html(version, method, path, op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    ]
    schemas = [
        _schema_table(version, name, schema)
        for name, schema in document["components"]["schemas"].items()
    ]
    hidden = "" if version == LATEST else " hidden"
    return (
        f'<section class="version" id="{version}"{hidden}>'
        f"<p>{escape(document['info']['description'])}</p>"
        f'<p>OpenAPI document: <a href="/openapi/{version}.json">/openapi/{version}.json</a>. '
        f"Authentication: <code>Authorization: Bearer &lt;JWT&gt;</code>.</p>"
        f"<h2>Operations</h2>{''.join(ops)}<h2>Schemas</h2>{''.join(schemas)}</section>"
    )


@functools.cache
def docs_page() -> bytes:
    """The page, rendered once per process."""
    tabs = "".join(
        f'<button data-version="{v}" aria-selected="{str(v == LATEST).lower()}">{v}</button>'
        for v in reversed(VERSIONS)
    )
    sections = "".join(_version_html(v, openapi_document(v)) for v in reversed(VERSIONS))
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>ERP coexistence gateway API reference</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<header><h1>ERP coexistence gateway API</h1><nav>{tabs}"
        '<a href="/changelog" style="color:#fff;margin-left:1rem">changelog</a></nav></header>'
        f"<main>{sections}</main><script>{_SCRIPT}</script></body></html>"
    )
    return html.encode()

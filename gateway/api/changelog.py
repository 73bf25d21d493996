"""The API changelog as served at `/changelog`: the generated markdown, and the same rendered as
an HTML page for browsers, each version's section anchored at `#v1`, `#v2`... (the target of a
deprecated version's `Link` header). Both built once per process.

Not the changelog's content (see `gateway.domain.versions.changelog`) nor how a request picks
one (see `negotiation.py`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin

from gateway.api.docs import DOCS_PATH
from gateway.domain.versions import changelog

MARKDOWN = "text/markdown"
HTML = "text/html"
# What `/changelog` answers without a preference (curl's `*/*`, no Accept): the markdown, as it
# always has, readable in a terminal and by tools.
OFFERS = (MARKDOWN, HTML)

_STYLE = """
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2430;margin:0}
main{max-width:46rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}
h2{border-bottom:1px solid #d5dae1;padding-bottom:.2rem;margin-top:2.2rem}
code{font-family:ui-monospace,monospace;font-size:.9em;background:#f1f3f5;padding:0 .2em}
nav{font-size:.9rem}a{color:#1565c0}
"""

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ERP coexistence gateway: API changelog</title>
<style>{style}</style>
</head>
<body>
<main>
<nav><a href="{docs}">API reference</a></nav>
{body}</main>
</body>
</html>
"""
# Styles inline, nothing else: the page loads nothing.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Changelog:
    markdown: bytes
    html: bytes


@functools.cache
def changelog_documents() -> Changelog:
    """The markdown and its HTML page. Headings get ids from their text: `## v1` is `#v1`."""
    markdown = changelog()
    renderer = MarkdownIt("commonmark", {"html": False}).use(
        anchors_plugin, min_level=2, max_level=3
    )
    page = _PAGE.format(style=_STYLE, docs=DOCS_PATH, body=renderer.render(markdown))
    return Changelog(markdown.encode(), page.encode())

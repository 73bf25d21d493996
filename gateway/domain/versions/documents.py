"""How a version change reaches into JSON documents: pages of resources and problems' pointers.

Not a version change itself; the change modules use these so each stays about its own fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Document = dict[str, Any]


def is_problem(status: int) -> bool:
    return status >= 400


def is_page(body: Document) -> bool:
    """A list answer (`{"items": [...]}`), as opposed to one resource."""
    return set(body) == {"items"} and isinstance(body["items"], list)


def each_resource(body: Document, rewrite: Callable[[Document], Document]) -> Document:
    """`body` with `rewrite` applied to the one resource it is, or to every item of its page."""
    if is_page(body):
        return {"items": [rewrite(item) for item in body["items"]]}
    return rewrite(body)


def with_pointers(body: Document, rewrite: Callable[[str], str]) -> Document:
    """A problem document with each `errors[].pointer` rewritten."""
    errors = body.get("errors")
    if not isinstance(errors, list):
        return body
    return {
        **body,
        "errors": [
            {**e, "pointer": rewrite(e["pointer"])} if isinstance(e.get("pointer"), str) else e
            for e in errors
        ],
    }

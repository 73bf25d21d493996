"""The supported API versions and the chain of version changes between them (as Stripe's API).

The core speaks the newest version only; a request of an older version is upgraded one change at
a time, its response downgraded back. Not the step that applies them (see
`gateway.pipeline.versioning`).
"""

from __future__ import annotations

from typing import Protocol

from gateway.domain.operations import Operation
from gateway.domain.versions import (
    v2_customer_names_and_addresses,
    v2_order_items_and_money,
    v2_partially_shipped_status,
)
from gateway.domain.versions.documents import Document


class VersionChange(Protocol):
    """One step between two adjacent versions; each change module is one of these."""

    title: str
    description: str  # markdown, for the changelog

    def upgrade_request(self, operation: Operation, body: Document) -> Document: ...

    def downgrade_response(self, operation: Operation, status: int, body: Document) -> Document: ...


VERSIONS: tuple[str, ...] = ("v1", "v2")
LATEST = VERSIONS[-1]

# The changes each version introduced over the one before it, in the order they apply.
CHANGES: dict[str, tuple[VersionChange, ...]] = {
    "v2": (
        v2_customer_names_and_addresses,
        v2_order_items_and_money,
        v2_partially_shipped_status,
    ),
}


def _changes_after(version: str) -> tuple[VersionChange, ...]:
    later = VERSIONS[VERSIONS.index(version) + 1 :]
    return tuple(change for v in later for change in CHANGES.get(v, ()))


# Each version's way up to the newest (the changes in the order they upgrade a request), and
# back down (the order they downgrade a response): made once, not per request.
_UP = {version: _changes_after(version) for version in VERSIONS}
_DOWN = {version: changes[::-1] for version, changes in _UP.items()}


def upgrade_request(version: str, operation: Operation, body: Document) -> Document:
    """A request body of `version` as the newest version's."""
    for change in _UP[version]:
        body = change.upgrade_request(operation, body)
    return body


def downgrade_response(version: str, operation: Operation, status: int, body: Document) -> Document:
    """A newest-version response body (resource or problem) as `version` shows it."""
    for change in _DOWN[version]:
        body = change.downgrade_response(operation, status, body)
    return body


def changelog() -> str:
    """The API changelog in markdown, newest version first, generated from the changes."""
    parts = ["# API changelog", ""]
    for version in reversed(VERSIONS):
        parts += [f"## {version}", ""]
        changes = CHANGES.get(version, ())
        if not changes:
            parts += ["The first version of the API.", ""]
        for change in changes:
            parts += [f"### {change.title}", "", change.description.rstrip(), ""]
    return "\n".join(parts)

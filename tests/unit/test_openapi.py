"""The OpenAPI contract of each version, pinned by a snapshot so that an accidental breaking
change fails CI; and the reference page, changelog and documents the gateway serves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.api.openapi import openapi_bytes, openapi_document
from gateway.cli import main
from gateway.domain.errors import Code, spec_of
from gateway.domain.versions import VERSIONS, changelog
from gateway.store.memory import MemoryStore
from tests.harness import in_process_gateway

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
HOW_TO_ACCEPT = (
    "If the change is additive (a new optional request field, a new response field, a new "
    "operation), accept it with `UPDATE_SNAPSHOTS=1 make test` and commit tests/snapshots/."
)
# Keys that document rather than constrain: changing them never breaks a client.
_PROSE = frozenset({"description", "summary", "example", "examples", "title"})
# Keys whose value is a constraint: any change to one is breaking.
_CONSTRAINTS = frozenset(
    {"type", "$ref", "enum", "const", "pattern", "format", "minimum", "maximum", "minLength",
     "maxLength", "minItems", "maxItems", "exclusiveMinimum", "exclusiveMaximum", "in"}
)  # fmt: skip


def breaking_changes(old: Any, new: Any, at: str = "") -> list[str]:
    """What a client written against `old` would trip over in `new`: removals, type and
    constraint changes, newly required fields. Additions are not breaking."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key, value in old.items():
            path = f"{at}/{key}"
            if key in _PROSE:
                continue
            if key not in new:
                found.append(f"removed {path}")
            elif key in _CONSTRAINTS and value != new[key]:
                found.append(f"changed {path}: {value!r} -> {new[key]!r}")
            elif key == "required" and isinstance(value, list):
                added = sorted(set(new[key]) - set(value))
                if added:
                    found.append(f"newly required at {path}: {', '.join(added)}")
            else:
                found += breaking_changes(value, new[key], path)
        return found
    if isinstance(old, list) and isinstance(new, list):
        if len(new) < len(old):
            return [f"removed items of {at}"]
        return [f for o, n in zip(old, new, strict=False) for f in breaking_changes(o, n, at)]
    if old != new and not isinstance(old, dict | list):
        return [f"changed {at}: {old!r} -> {new!r}"]
    return []


@pytest.mark.parametrize("version", VERSIONS)
def test_the_openapi_document_matches_its_snapshot(version: str) -> None:
    snapshot = SNAPSHOTS / f"openapi-{version}.json"
    current = openapi_bytes(version)
    if UPDATE or not snapshot.exists():
        snapshot.write_bytes(current)
        if not UPDATE:
            pytest.fail(f"{snapshot} did not exist and was written; commit it.")
        return
    pinned = json.loads(snapshot.read_bytes())
    breaking = breaking_changes(pinned, json.loads(current))
    assert not breaking, (
        f"Breaking change(s) to API {version}; make them in a new version (a version change "
        "module under gateway/api/versions/) instead:\n  " + "\n  ".join(breaking[:20])
    )
    assert current == snapshot.read_bytes(), (
        f"The OpenAPI document of {version} differs from {snapshot.name}. " + HOW_TO_ACCEPT
    )


def test_the_breaking_change_check_flags_removals_and_type_changes_but_not_additions() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    added = {
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "string"}},
        "required": ["a"],
        "description": "new prose",
    }
    changed = {"properties": {"a": {"type": "integer"}}, "required": ["a", "b"]}

    assert breaking_changes(old, added) == []
    assert breaking_changes(old, changed) == [
        "changed /properties/a/type: 'string' -> 'integer'",
        "removed /properties/b",
        "newly required at /required: b",
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_each_document_is_openapi_3_1_with_security_headers_and_every_problem(
    version: str,
) -> None:
    document = openapi_document(version)
    components = document["components"]

    assert document["openapi"] == "3.1.0"
    assert components["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert {"Idempotency-Key", "X-Correlation-ID", "traceparent"} == {
        p["name"] for p in components["parameters"].values()
    }
    # Every status a problem of the closed code list can have is documented (500 is a bug).
    statuses = {spec_of(code)[1] for code in Code} - {500}
    assert {f"Problem{s}" for s in statuses} == set(components["responses"])
    operations = [op for methods in document["paths"].values() for op in methods.values()]
    assert len({op["operationId"] for op in operations}) == len(operations) == 10
    for op in operations:
        assert {"401", "403", "429", "503"} <= set(op["responses"])
        success = next(r for s, r in op["responses"].items() if s in ("200", "201"))
        assert "schema" in success["content"]["application/json"]
    create = document["paths"][f"/{version}/sales-orders"]["post"]
    assert "example" in create["requestBody"]["content"]["application/json"]
    assert {"408", "409", "413", "415", "422"} <= set(create["responses"])


def test_the_two_documents_differ_where_the_versions_do() -> None:
    v1 = openapi_document("v1")["components"]["schemas"]
    v2 = openapi_document("v2")["components"]["schemas"]

    assert "name" in v1["CustomerCreate"]["properties"]
    assert "legal_name" in v2["CustomerCreate"]["properties"]
    assert "lines" in v1["SalesOrderCreate"]["properties"]
    assert "items" in v2["SalesOrderCreate"]["properties"]
    assert "partially_shipped" in v2["SalesOrderStatus"]["enum"]
    assert "partially_shipped" not in v1["SalesOrderStatus"]["enum"]


async def test_the_gateway_serves_both_documents_the_docs_page_and_the_changelog() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        documents = {v: await api.get(f"/openapi/{v}.json") for v in VERSIONS}
        docs = await api.get("/docs")
        log = await api.get("/changelog")

    for version, response in documents.items():
        assert response.status_code == 200
        assert response.content == openapi_bytes(version)
    assert docs.headers["content-type"].startswith("text/html")
    page = docs.text
    assert page.count('class="version"') == len(VERSIONS)
    assert 'id="v2-schema-CustomerCreate"' in page and 'id="v1-schema-CustomerCreate"' in page
    assert "<style>" in page and "<script>" in page
    # Self-contained: nothing is fetched from elsewhere (no CDN, no external fonts).
    assert not any(tag in page for tag in ("src=", "<link", "@import", "url("))
    assert log.headers["content-type"].startswith("text/markdown")
    assert log.text == changelog()


def test_the_changelog_command_prints_the_generated_changelog(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["changelog"]) == 0
    assert capsys.readouterr().out == changelog() + "\n"

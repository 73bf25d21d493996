"""The OpenAPI contract of each version, pinned by a snapshot so that an accidental breaking
change fails CI, described and exemplified throughout; and the reference page, changelog and
documents the gateway serves (the page in a browser: tests/e2e/test_docs_page.py)."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from gateway.adapters.value_maps import refuse_unknown_skus
from gateway.api.openapi import DOCUMENTED_CODES, Document, openapi_bytes, openapi_document
from gateway.api.openapi_examples import REQUEST_EXAMPLES
from gateway.cli import main
from gateway.domain import models
from gateway.domain.errors import Code, GatewayError, spec_of
from gateway.domain.operations import Operation
from gateway.domain.versions import VERSIONS, changelog, v1_models
from gateway.pipeline.body import parse_json_model
from gateway.store.memory import MemoryStore
from tests.canonical import order_item
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
    # Every status a problem of the closed code list can have is documented (500 is a bug);
    # a 405 answers no operation of the document, and its code is in none of them.
    statuses = {spec_of(code)[1] for code in DOCUMENTED_CODES} - {500}
    assert {f"Problem{s}" for s in statuses} == set(components["responses"])
    assert set(Code) - set(DOCUMENTED_CODES) == {Code.METHOD_NOT_ALLOWED}
    codes = components["schemas"]["Problem"]["properties"]["code"]["enum"]
    assert codes == [c.value for c in DOCUMENTED_CODES]
    operations = [op for methods in document["paths"].values() for op in methods.values()]
    assert len({op["operationId"] for op in operations}) == len(operations) == 12
    for op in operations:
        assert {"401", "403", "429", "503"} <= set(op["responses"])
        success = next(r for s, r in op["responses"].items() if s in ("200", "201"))
        (media,) = success["content"].values()  # JSON, or a CloudEvents JSON batch
        assert "schema" in media
    create = document["paths"][f"/{version}/sales-orders"]["post"]
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in create["parameters"]
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


class _Page(HTMLParser):
    """What an HTML page refers to (src, href) and the ids it declares."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.references.append(value)
            if name == "id" and value is not None:
                self.ids.add(value)


def _parsed(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_the_gateway_serves_both_documents_and_the_docs_page_with_its_own_assets() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        documents = {v: await api.get(f"/openapi/{v}.json") for v in VERSIONS}
        docs = await api.get("/docs")
        page = _parsed(docs.text)
        scripts_and_styles = [r for r in page.references if r.startswith("/docs/assets/")]
        assets = {path: await api.get(path) for path in scripts_and_styles}

    for version, response in documents.items():
        assert response.status_code == 200
        assert response.content == openapi_bytes(version)
    assert docs.headers["content-type"].startswith("text/html")
    # Nothing from elsewhere: every reference is to the gateway, and the browser is told so.
    assert all(r.startswith("/") and not r.startswith("//") for r in page.references)
    assert "default-src 'none'" in docs.headers["content-security-policy"]
    assert {r.rsplit("/", 1)[-1] for r in scripts_and_styles} >= {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "docs.js",
    }
    for path, asset in assets.items():
        assert asset.status_code == 200, path
        assert "immutable" in asset.headers["cache-control"]
    initializer = next(a.text for p, a in assets.items() if p.endswith("/docs.js"))
    for version in VERSIONS:
        assert f'"/openapi/{version}.json"' in initializer
    assert '"validatorUrl": null' in initializer


async def test_the_changelog_is_html_for_browsers_and_markdown_for_tools() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        browser = await api.get("/changelog", headers={"Accept": BROWSER_ACCEPT})
        markdown = await api.get("/changelog", headers={"Accept": "text/markdown"})
        curl = await api.get("/changelog", headers={"Accept": "*/*"})

    assert browser.headers["content-type"].startswith("text/html")
    page = _parsed(browser.text)
    # A deprecated version's `Link: </changelog#v1>` lands on its section.
    assert set(VERSIONS) <= page.ids
    assert browser.text.count("<h3") == changelog().count("\n### ") > 0
    for response in (markdown, curl):
        assert response.headers["content-type"].startswith("text/markdown")
        assert response.text == changelog()
    assert browser.headers["vary"] == markdown.headers["vary"] == "Accept"


def _resolved(document: Document, node: Document) -> Document:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _operations(document: Document) -> list[tuple[str, Document]]:
    return [
        (f"{method.upper()} {path}", op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    ]


def _responses(document: Document) -> list[tuple[str, Document]]:
    """Every response object: the components' and each operation's (resolved)."""
    found = [(f"response {n}", r) for n, r in document["components"]["responses"].items()]
    for where, op in _operations(document):
        found += [
            (f"{where} {status}", _resolved(document, r)) for status, r in op["responses"].items()
        ]
    return found


def _parameters(document: Document) -> list[tuple[str, Document]]:
    found = [(f"parameter {n}", p) for n, p in document["components"]["parameters"].items()]
    for where, op in _operations(document):
        found += [
            (f"{where} parameter {p.get('name', p.get('$ref'))}", _resolved(document, p))
            for p in op["parameters"]
        ]
    return found


def _headers(document: Document) -> list[tuple[str, Document]]:
    found = [(f"header {n}", h) for n, h in document["components"]["headers"].items()]
    for where, response in _responses(document):
        found += [
            (f"{where} header {name}", _resolved(document, h))
            for name, h in response.get("headers", {}).items()
        ]
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_every_parameter_header_and_problem_has_a_description_and_an_example(
    version: str,
) -> None:
    document = openapi_document(version)
    missing = []
    for where, item in [*_parameters(document), *_headers(document)]:
        if not item.get("description", "").strip():
            missing.append(f"{where}: no description")
        if "example" not in item and not item.get("examples"):
            missing.append(f"{where}: no example")
    problems = document["components"]["responses"]
    for name, response in problems.items():
        status = int(name.removeprefix("Problem"))
        if not response.get("description", "").strip():
            missing.append(f"{name}: no description")
        shown = {
            example["value"]["code"]
            for example in response["content"]["application/problem+json"]["examples"].values()
        }
        for code in DOCUMENTED_CODES:
            if spec_of(code)[1] == status and code.value not in shown:
                missing.append(f"{name}: no example of {code.value}")

    assert problems, "the documents describe their problems"
    assert not missing, "\n".join(missing)


def test_the_unknown_sku_example_says_what_the_adapters_refuse_an_unknown_product_with() -> None:
    with pytest.raises(GatewayError) as raised:
        refuse_unknown_skus([order_item("NOPE-1", 1, Decimal("1.00"))], skus={})
    said = (raised.value.detail, [e.as_dict() for e in raised.value.errors])
    problems = openapi_document("v2")["components"]["responses"]

    shown = [
        (example["value"]["detail"], example["value"]["errors"])
        for response in problems.values()
        for example in response["content"]["application/problem+json"]["examples"].values()
        if example["value"]["code"] == Code.UNKNOWN_SKU
    ]

    assert shown == [said]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_validation_example_says_what_the_gateway_refuses_that_body_with(
    version: str,
) -> None:
    # The example order of the version, with a lower-case currency: what the body step says.
    request = {**REQUEST_EXAMPLES[version][Operation.SALES_ORDERS_CREATE], "currency": "usd"}
    model = {"v1": v1_models.SalesOrderCreate, "v2": models.SalesOrderCreate}[version]
    with pytest.raises(GatewayError) as raised:
        parse_json_model(json.dumps(request).encode(), model)
    said = (raised.value.detail, [e.as_dict() for e in raised.value.errors])
    problems = openapi_document(version)["components"]["responses"]

    shown = [
        (example["value"]["detail"], example["value"]["errors"])
        for response in problems.values()
        for example in response["content"]["application/problem+json"]["examples"].values()
        if example["value"]["code"] == Code.VALIDATION_FAILED
    ]

    assert shown == [said]


def _examples(document: Document) -> list[tuple[str, Any, Document]]:
    """(where, example, schema) for every example in the document."""
    found: list[tuple[str, Any, Document]] = []
    for where, item in [*_parameters(document), *_headers(document)]:
        if "example" in item:
            found.append((where, item["example"], item["schema"]))
    bodies = [(w, r) for w, r in _responses(document)]
    bodies += [(w, op["requestBody"]) for w, op in _operations(document) if "requestBody" in op]
    for where, body in bodies:
        for media_type, content in body.get("content", {}).items():
            if "example" in content:
                found.append((f"{where} {media_type}", content["example"], content["schema"]))
            for name, example in content.get("examples", {}).items():
                found.append((f"{where} {media_type} {name}", example["value"], content["schema"]))
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_every_example_in_the_documents_matches_its_schema(version: str) -> None:
    document = openapi_document(version)
    examples = _examples(document)
    invalid = []
    for where, example, schema in examples:
        # The schema inside a document that has the components its $refs point at.
        rooted = {"allOf": [schema], "components": document["components"]}
        validator = jsonschema_rs.Draft202012Validator(rooted, validate_formats=True)
        invalid += [f"{where}: {error.message}" for error in validator.iter_errors(example)]

    assert len(examples) > 100
    assert not invalid, "\n".join(invalid)


def test_the_changelog_command_prints_the_generated_changelog(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["changelog"]) == 0
    assert capsys.readouterr().out == changelog() + "\n"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_headers_the_api_sends_are_documented(version: str) -> None:
    # A create's Location, the Retry-After of a 409 (a request under the same key still in
    # progress), and the events poll's rel="next" Link.
    document = openapi_document(version)
    created = document["paths"][f"/{version}/customers"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    assert "Retry-After" in document["components"]["responses"]["Problem409"]["headers"]
    assert 'rel=\\"next\\"' in json.dumps(document["components"]["headers"]["Link"])


def test_the_problem_schemas_example_points_at_the_versions_own_fields() -> None:
    pointers = {
        version: [
            e["pointer"]
            for e in openapi_document(version)["components"]["schemas"]["Problem"]["example"][
                "errors"
            ]
        ]
        for version in VERSIONS
    }
    assert pointers == {"v1": ["/lines/0/unit_price"], "v2": ["/items/0/price/amount"]}

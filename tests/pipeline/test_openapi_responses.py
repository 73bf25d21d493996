"""What the API answers, held to what its OpenAPI documents say: for every operation of both
versions, a success and a problem, through the whole pipeline; each body matches the schema the
document gives its status and media type, and each header it carries is one the document lists
for that answer. (The schema fuzzing of tests/e2e/test_schema_fuzz.py sends mostly bad input;
these are the answers a client written from the document meets every day.)"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jsonschema_rs
import pytest

from gateway.api.openapi import Document, openapi_document
from gateway.domain.operations import REQUIRED_SCOPE
from gateway.domain.versions import VERSIONS
from gateway.store.base import Store
from tests.e2e import payloads
from tests.harness import in_process_gateway, token_for

# Framing headers, not the API's: every HTTP answer has them.
_FRAMING = frozenset({"content-type", "content-length"})
# Every operation's scope, without gateway:debug: its routing headers are for operators.
_SCOPES = " ".join(sorted(set(REQUIRED_SCOPE.values())))


def _v2_customer() -> dict[str, Any]:
    body = payloads.customer("US01")
    body["legal_name"] = body.pop("name")
    body["addresses"] = [{**body.pop("address"), "type": "billing"}]
    return body


def _v2_order(customer_id: str) -> dict[str, Any]:
    body = payloads.order("US01", customer_id)
    currency = body["currency"]
    body["items"] = [
        {
            "product_id": line["sku"],
            "quantity": line["quantity"],
            "price": {"amount": line["unit_price"], "currency": currency},
        }
        for line in body.pop("lines")
    ]
    return body


def _resolved(document: Document, node: Document) -> Document:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def mismatches(document: Document, method: str, template: str, answer: httpx.Response) -> list[str]:
    """How `answer` departs from what `document` says `method template` answers."""
    where = f"{method} {template} {answer.status_code}"
    operation = document["paths"][template][method.lower()]
    described = operation["responses"].get(str(answer.status_code))
    if described is None:
        return [f"{where}: the status is not documented"]
    described = _resolved(document, described)
    found = []
    headers = {name.lower() for name in described.get("headers", {})}
    found += [
        f"{where}: header {name} is not documented"
        for name in answer.headers
        if name not in headers | _FRAMING
    ]
    media_type = answer.headers.get("content-type", "").split(";")[0]
    content = described["content"].get(media_type)
    if content is None:
        return [*found, f"{where}: {media_type} is not documented"]
    rooted = {"allOf": [content["schema"]], "components": document["components"]}
    validator = jsonschema_rs.Draft202012Validator(rooted, validate_formats=True)
    found += [f"{where}: {error.message}" for error in validator.iter_errors(answer.json())]
    return found


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_operations_answers_match_its_openapi_document(
    store: Store, version: str
) -> None:
    document = openapi_document(version)
    v1 = version == "v1"
    answers: list[tuple[str, str, httpx.Response]] = []
    async with in_process_gateway(store) as gw:
        headers = {"Authorization": f"Bearer {token_for('crm-demo', _SCOPES)}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw.app),
            base_url="http://gateway.test",
            headers=headers,
        ) as api:

            async def call(method: str, template: str, path: str, **kw: Any) -> httpx.Response:
                answer = await api.request(method, f"/{version}{path}", **kw)
                answers.append((method, f"/{version}{template}", answer))
                return answer

            def key() -> dict[str, str]:
                return {"Idempotency-Key": uuid.uuid4().hex}

            customer_body = payloads.customer("US01") if v1 else _v2_customer()
            customer = (await call("POST", "/customers", "/customers", json=customer_body)).json()
            await call("GET", "/customers/{id}", f"/customers/{customer['id']}")
            ref = {"external_ref": customer_body["external_ref"]}
            await call("GET", "/customers", "/customers", params=ref)
            order_body = payloads.order("US01", customer["id"]) if v1 else _v2_order(customer["id"])
            order = await call(
                "POST", "/sales-orders", "/sales-orders", json=order_body, headers=key()
            )
            order_id = order.json()["id"]
            await call("GET", "/sales-orders/{id}", f"/sales-orders/{order_id}")
            await call("GET", "/sales-orders/{id}/shipments", f"/sales-orders/{order_id}/shipments")
            await call("GET", "/invoices", "/invoices", params={"sales_order_id": order_id})
            await call("GET", "/sales-orders/{id}/events", f"/sales-orders/{order_id}/events")
            await call("GET", "/events", "/events")
            quote = {k: v for k, v in order_body.items() if k != "external_ref"}
            await call("POST", "/quotes/validate", "/quotes/validate", json=quote)
            cancel = f"/sales-orders/{order_id}/cancel"
            await call("POST", "/sales-orders/{id}/cancel", cancel, headers=key())
            # Problems: a record not there, a body that breaks the schema, one not JSON.
            await call("GET", "/invoices/{id}", "/invoices/inv_missing")
            await call("GET", "/customers/{id}", "/customers/cus_missing")
            await call("POST", "/customers", "/customers", json={})
            xml = {"Content-Type": "application/xml"}
            await call("POST", "/customers", "/customers", content=b"<a/>", headers=xml)
            await call("GET", "/events", "/events", params={"after": "x"})

    statuses = {answer.status_code for _, _, answer in answers}
    assert {200, 201, 400, 404, 415} <= statuses
    assert {template for _, template, _ in answers} == set(document["paths"])
    found = [m for answer in answers for m in mismatches(document, *answer)]
    assert not found, "\n".join(found)

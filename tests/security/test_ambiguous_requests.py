"""Requests the gateway must refuse rather than guess: repeated credentials, keys or fields,
bodies that are not JSON, digits and text that only look right, and oversized trace state."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from gateway.store.journal import JournalQuery
from gateway.store.memory import MemoryStore
from tests.e2e import payloads
from tests.harness import Gateway, in_process_gateway, token_for


def _no_erp_calls(gw: Gateway) -> bool:
    return all(not erp.calls for erp in gw.erps.values())


def _bare(gw: Gateway) -> httpx.AsyncClient:
    """A client that sends only the headers each request names."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gw.app), base_url="http://gateway.test"
    )


async def test_two_authorization_headers_are_401_naming_the_repeat() -> None:
    async with in_process_gateway(MemoryStore()) as gw, _bare(gw) as api:
        response = await api.get(
            "/v1/customers",
            params={"external_ref": "X"},
            headers=[
                ("Authorization", f"Bearer {token_for('crm-emea')}"),
                ("Authorization", f"Bearer {token_for('crm-demo')}"),
            ],
        )
        assert response.status_code == 401
        assert "more than one Authorization header" in response.json()["detail"]
        assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_an_idempotency_key_holding_a_list_is_400_and_not_forwarded() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        gw.erps["cloud"].calls.clear()
        response = await api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers={"Idempotency-Key": "a, b"},
        )
        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_invalid"
        assert "holds a list" in response.json()["detail"]
        assert _no_erp_calls(gw)


async def test_a_quoted_key_may_contain_a_comma() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        response = await api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer["id"]),
            headers={"Idempotency-Key": '"a,b"'},
        )
        assert response.status_code == 201, response.text


async def test_a_field_given_twice_is_400_at_its_pointer_and_nothing_is_created() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        body = json.dumps(payloads.customer("DE01"))
        # The same key twice: which legal entity was meant is a guess the gateway won't make.
        twice = body.replace(
            '"legal_entity": "DE01"', '"legal_entity": "DE01", "legal_entity": "US01"'
        )
        assert twice != body
        response = await api.post(
            "/v1/customers", content=twice, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["errors"] == [
            {"pointer": "/legal_entity", "detail": "Given more than once."}
        ]
        assert _no_erp_calls(gw)


@pytest.mark.parametrize("depth", [5_000, 300_000])
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_a_body_nested_past_any_parsers_stack_is_400_not_500(
    version: str, depth: int
) -> None:
    body = json.dumps(payloads.customer("DE01"))[:-1] + ', "x": ' + "[" * depth + "]" * depth
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            f"/{version}/customers",
            content=(body + "}").encode(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "validation_failed"
        assert _no_erp_calls(gw)


async def test_a_nested_field_given_twice_points_into_its_object() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        body = json.dumps(payloads.customer("DE01"))
        twice = body.replace('"city": "Berlin"', '"city": "Berlin", "city": "Bonn"')
        response = await api.post(
            "/v1/customers", content=twice, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert [e["pointer"] for e in response.json()["errors"]] == ["/address/city"]


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "multipart/form-data; boundary=x",
    ],
)
async def test_a_body_not_declared_as_json_is_415(content_type: str | None) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        headers = {"Content-Type": content_type} if content_type else {}
        response = await api.post(
            "/v1/customers", content=json.dumps(payloads.customer("US01")), headers=headers
        )
        assert response.status_code == 415, response.text
        assert response.json()["code"] == "unsupported_media_type"
        assert response.headers["accept-post"] == "application/json"
        assert _no_erp_calls(gw)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_a_compressed_body_is_415_naming_its_encoding_not_malformed_json(
    encoding: str,
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            "/v1/customers",
            content=gzip.compress(json.dumps(payloads.customer("US01")).encode()),
            headers={"Content-Type": "application/json", "Content-Encoding": encoding},
        )
        assert response.status_code == 415, response.text
        problem = response.json()
        assert problem["code"] == "unsupported_media_type"
        assert encoding in problem["detail"] and "uncompressed" in problem["detail"]
        assert response.headers["accept-encoding"] == "identity"  # RFC 7694
        assert _no_erp_calls(gw)


async def test_a_body_declared_in_the_identity_encoding_is_read_as_sent() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            "/v1/customers",
            json=payloads.customer("US01"),
            headers={"Content-Encoding": "identity"},
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=UTF-8", "application/x+json"]
)
async def test_json_by_any_of_its_names_is_accepted(content_type: str) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            "/v1/customers",
            content=json.dumps(payloads.customer("US01")),
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("price", "why"),
    [
        ("\u0661\u0669.\u0669\u0669", "Arabic-Indic digits"),
        ("19.99\n", "a trailing newline"),
        ("\uff11\uff19.\uff19\uff19", "full-width digits"),
    ],
)
async def test_a_price_that_only_looks_like_a_decimal_is_400_at_its_pointer(
    price: str, why: str
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        body = payloads.order(
            "US01",
            customer["id"],
            lines=[{"sku": "WIDGET-1", "quantity": 1, "unit_price": price}],
        )
        response = await api.post("/v1/sales-orders", json=body, headers=payloads.new_key())
        assert response.status_code == 400, why
        assert [e["pointer"] for e in response.json()["errors"]] == ["/lines/0/unit_price"]
        assert not gw.erps["cloud"].orders


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_a_delivery_date_written_as_a_unix_timestamp_is_400_at_its_pointer(
    version: str,
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        body = payloads.order("US01", customer["id"], requested_delivery_date="1797292800")
        if version == "v2":
            body["items"] = [
                {
                    "product_id": ln["sku"],
                    "quantity": ln["quantity"],
                    "price": {"amount": ln["unit_price"], "currency": "USD"},
                }
                for ln in body.pop("lines")
            ]
        response = await api.post(f"/{version}/sales-orders", json=body, headers=payloads.new_key())
        assert response.status_code == 400, response.text
        assert [e["pointer"] for e in response.json()["errors"]] == ["/requested_delivery_date"]
        assert not gw.erps["cloud"].orders


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Acme\x00Corp"),
        ("name", "Acme\r\nX-Injected: 1"),
        ("name", "Acme \u202egnp.exe"),
        ("external_ref", "CRM\t1"),
    ],
)
async def test_control_characters_in_a_string_field_are_400_at_its_pointer(
    field: str, value: str
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post("/v1/customers", json=payloads.customer("US01", **{field: value}))
        assert response.status_code == 400, response.text
        errors = response.json()["errors"]
        assert [e["pointer"] for e in errors] == [f"/{field}"]
        assert "control characters" in errors[0]["detail"]
        assert _no_erp_calls(gw)


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "   "), ("name", "\u3000"), ("external_ref", " "), ("tax_id", "\u00a0\u00a0")],
)
async def test_a_string_of_spaces_only_is_400_at_its_pointer_on_either_erp(
    field: str, value: str
) -> None:
    # The cloud ERP stored a customer named "   ", the legacy one refused it as "Enter a name
    # (Name 1)": the gateway refuses it itself, in the same words for every legal entity.
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        for legal_entity in ("US01", "DE01"):
            body = payloads.customer(legal_entity, **{field: value})
            response = await api.post("/v1/customers", json=body)
            assert response.status_code == 400, response.text
            errors = response.json()["errors"]
            assert [e["pointer"] for e in errors] == [f"/{field}"]
            assert "blank" in errors[0]["detail"]
        assert _no_erp_calls(gw)


async def test_a_blank_address_line_in_v2_points_into_its_address() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        v1 = payloads.customer("US01")
        body = {
            **{k: v for k, v in v1.items() if k not in ("name", "address")},
            "legal_name": v1["name"],
            "addresses": [{**v1["address"], "type": "billing", "city": "  "}],
        }
        response = await api.post("/v2/customers", json=body)
        assert response.status_code == 400, response.text
        assert [e["pointer"] for e in response.json()["errors"]] == ["/addresses/0/city"]
        assert _no_erp_calls(gw)


async def test_control_characters_in_a_nested_field_point_into_it() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        address: dict[str, Any] = {**payloads.ADDRESSES["US01"], "line1": "1 Main St\n2nd floor"}
        body = payloads.customer("US01", address=address)
        response = await api.post("/v1/customers", json=body)
        assert response.status_code == 400
        assert [e["pointer"] for e in response.json()["errors"]] == ["/address/line1"]


async def test_a_100_kb_tracestate_reaches_the_erp_within_w3c_limits() -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    state = ",".join(["vendor=keep", *(f"k{i}=" + "v" * 250 for i in range(400))])
    assert len(state) > 100_000
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            "/v1/customers",
            json=payloads.customer("US01"),
            headers={"traceparent": trace, "tracestate": state},
        )
        assert response.status_code == 201, response.text
        sent = gw.erps["cloud"].contexts[-1].tracestate
        assert sent == "vendor=keep"


async def test_a_body_declared_larger_than_the_limit_is_413_and_not_forwarded() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            "/v1/customers",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": str(2 * 1024**2)},
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert "limit of 1048576 bytes" in response.json()["detail"]
        assert _no_erp_calls(gw)


async def test_a_streamed_body_past_the_limit_is_413_and_not_forwarded() -> None:
    """No Content-Length (chunked): refused as the bytes pass the limit."""

    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 64 * 1024

    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.post(
            "/v1/customers", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert _no_erp_calls(gw)


BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark, which .NET's and PowerShell's writers send


async def test_a_body_opening_with_a_byte_order_mark_is_the_same_request_as_one_without() -> None:
    """RFC 8259 8.1 lets a parser ignore a BOM: the body is read as the JSON after it, so a
    retry that adds or drops the mark is the same request (replayed, not 422), and the journal
    keeps the body for a replay."""
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        created = await api.post(
            "/v1/customers",
            content=BOM + json.dumps(payloads.customer("US01")).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert created.status_code == 201, created.text
        order = payloads.order("US01", created.json()["id"])
        body = json.dumps(order).encode()
        first = await api.post(
            "/v1/sales-orders",
            content=BOM + body,
            headers={"Content-Type": "application/json", "Idempotency-Key": "bom-1"},
        )
        again = await api.post(
            "/v1/sales-orders",
            content=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": "bom-1"},
        )
        assert first.status_code == again.status_code == 201, (first.text, again.text)
        assert again.headers["idempotent-replayed"] == "true"
        assert sum(len(erp.orders) for erp in gw.erps.values()) == 1
        assert await gw.runtime.journal.flush()
        page = await gw.runtime.store.journal.page(JournalQuery(limit=10))
        (entry,) = [e for e in page.items if e["operation"] == "sales_orders.create"]
        stored = await gw.runtime.store.journal.entry(str(entry["id"]))
        assert stored is not None
        assert stored["request"]["body"] == order


async def test_an_admin_body_opening_with_a_byte_order_mark_is_read_as_json() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        explained = await ops.post(
            "/admin/routes/explain",
            content=BOM + b'{"operation": "customers.create", "legal_entity": "DE01"}',
            headers={"Content-Type": "application/json"},
        )
    assert explained.status_code == 200, explained.text

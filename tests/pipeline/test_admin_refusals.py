"""The admin API and the ERP notification endpoint refusing what they cannot serve, in-process:
an export when the store is down (503, not a 200 that breaks off), a replay request of another
media type (415), an SAP event whose sequence is out of range or that has neither sequence nor
time (400 at its pointer)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from gateway.app import build_app
from gateway.config.loader import load_config
from gateway.domain.operations import Kind
from gateway.runtime import build_runtime
from gateway.store.base import StoreUnavailable, XrefRecord
from gateway.store.memory import MemoryStore
from tests.configs import EVENTS_SECRETS
from tests.fake_erp import FakeErp
from tests.harness import ENV, REPO, Gateway, in_process_gateway, token_for

SAP_SECRET = "legacy-events-test-secret"
CLOUD_SECRET = EVENTS_SECRETS["CLOUD_EVENTS_SECRET"]


def _unraised_admin_client(gw: Gateway) -> httpx.AsyncClient:
    """ops-admin's client of `gw`, to which an exception the app lets out is the 500 a server
    would answer, not raised in the test."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gw.app, raise_app_exceptions=False),
        base_url="http://gateway.test",
        headers={"Authorization": f"Bearer {token_for('ops-admin')}"},
    )


async def test_the_xref_export_is_a_503_problem_not_a_broken_off_200_when_the_store_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As the audit export does (test_operations_admin.py): the records are read before the
    answer starts, so a store that is down is a 503 problem a client can retry, never a 200
    whose body breaks off (which `gateway xref export` may have started saving as the CSV)."""
    store = MemoryStore()

    async def unreachable(kind: Kind, legal_entity: str) -> list[XrefRecord]:
        raise StoreUnavailable()

    monkeypatch.setattr(store, "xrefs_of", unreachable)
    async with in_process_gateway(store) as gw, _unraised_admin_client(gw) as ops:
        exported = await ops.get("/admin/xref/export", params={"legal_entity": "DE01"})
    assert exported.status_code == 503, (exported.status_code, exported.text[:200])
    assert exported.headers["content-type"].startswith("application/problem+json")
    assert exported.json()["code"] == "store_unavailable"


async def test_a_replay_request_declared_as_another_media_type_is_a_415() -> None:
    """Every other admin endpoint that takes a JSON body (explain, migrations) answers 415 to
    a body that is not declared as JSON, as the domain API does; the replay reads any body."""
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        explain = await ops.post(
            "/admin/routes/explain",
            content=b'{"operation": "customers.create", "legal_entity": "DE01"}',
            headers={"Content-Type": "text/plain"},
        )
        replay = await ops.post(
            "/admin/transactions/tx_unknown/replay",
            content=b"{}",
            headers={"Content-Type": "text/plain"},
        )
    assert explain.status_code == 415
    assert replay.status_code == 415, (replay.status_code, replay.json()["code"])


@pytest.mark.parametrize("since", ["2024", "20240101", "1700000000", "-1"])
async def test_a_listing_since_a_number_is_a_400_not_every_transaction_since_1970(
    since: str,
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        listed = await ops.get("/admin/transactions", params={"since": since})
        dated = await ops.get("/admin/transactions", params={"since": "2024-01-01T00:00:00Z"})
    assert listed.status_code == 400, listed.json()
    assert [e["pointer"] for e in listed.json()["errors"]] == ["/since"]
    assert dated.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"status": "stuck"},
        {"cursor": "not-a-cursor"},
        {"limit": "0"},
        {"since": "x"},
        # An empty filter (`?legal_entity=`) listed nothing, 200: "no transactions".
        *({name: ""} for name in ("status", "legal_entity", "backend", "client", "operation")),
        {"correlation_id": ""},
        {"cursor": ""},
        # No legal entity's code: listed nothing, 200, as if the entity had no transactions.
        {"legal_entity": "de01"},
        {"legal_entity": "DE01 "},
    ],
)
async def test_a_bad_listing_parameter_is_pointed_at_as_every_query_parameter_is(
    params: dict[str, str],
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        listed = await ops.get("/admin/transactions", params=params)
    assert listed.status_code == 400
    assert [e["pointer"] for e in listed.json()["errors"]] == [f"/{name}" for name in params]


@pytest.mark.parametrize("written", ["5_0", " 5", "5 ", "2.0", "+5", "-5", "\u0665"])
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/admin/transactions", "limit"),
        ("/admin/audit", "start"),
        ("/admin/audit", "limit"),
        ("/admin/events/dead-letters", "limit"),
    ],
)
async def test_a_whole_number_in_a_query_string_is_its_ascii_digits_alone(
    path: str, name: str, written: str
) -> None:
    """int() (and pydantic) read `5_0` as 50, ` 5` as 5 and `2.0` as 2: a listing of 50 the
    operator never wrote. Each is the 400 every other bad value is, at its parameter."""
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        refused = await ops.get(path, params={name: written})
        digits = await ops.get(path, params={name: "5"})
    assert refused.status_code == 400, (refused.status_code, refused.text[:200])
    assert [e["pointer"] for e in refused.json()["errors"]] == [f"/{name}"]
    assert digits.status_code == 200, digits.text[:200]


@asynccontextmanager
async def _erp_facing_gateway() -> AsyncIterator[httpx.AsyncClient]:
    env = {**ENV, "LEGACY_EVENTS_SECRET": SAP_SECRET}
    config = load_config(REPO, env=env)
    erps = {name: FakeErp(name) for name in config.backends}
    runtime = build_runtime(config, MemoryStore(), env, adapters=erps)
    app = build_app(runtime, watch_config=False, deliver_events=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
            yield c
    finally:
        await runtime.journal.aclose()
        await runtime.audit.aclose()
        await runtime.releases.aclose()


def _sap_event(**fields: Any) -> bytes:
    event = {
        "specversion": "1.0",
        "id": "3f0c5a1e-0000-4000-8000-000000000001",
        "source": "/default/sap.s4.beh/0000000000",
        "type": "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1",
        "datacontenttype": "application/json",
        "data": {"SalesOrder": "0000000001"},
        **fields,
    }
    return json.dumps({k: v for k, v in event.items() if v is not None}).encode()


async def _push(erp: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await erp.post(
        "/erp-events/legacy",
        content=body,
        headers={
            "Authorization": f"Bearer {SAP_SECRET}",
            "Content-Type": "application/cloudevents+json",
        },
    )


async def test_an_sap_event_with_an_overlong_sequence_is_a_400_not_a_500() -> None:
    """A `sequence` of 5,000 digits (past what int() converts, and far past what the store's
    scripts compare exactly) is a 400 pointing at /sequence, not a 500 with a traceback."""
    async with _erp_facing_gateway() as erp:
        answer = await _push(erp, _sap_event(sequence="9" * 5000))
    assert answer.status_code == 400, (answer.status_code, answer.json()["code"])
    assert answer.json()["errors"][0]["pointer"] == "/sequence"


async def test_an_sap_event_without_sequence_nor_time_is_refused() -> None:
    """An event without `sequence` is ordered by its `time`; one with neither is a 400 at
    /time. (The CloudEvents SDK fills a missing `time` with the moment it parsed the event: an
    older change delivered late would count as the newest.)"""
    async with _erp_facing_gateway() as erp:
        answer = await _push(erp, _sap_event())
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert answer.json()["errors"][0]["pointer"] == "/time"


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"specversion": None}, "/specversion"),
        ({"specversion": "0.3"}, "/specversion"),
        ({"specversion": "2.0"}, "/specversion"),
        ({"specversion": 1.0}, "/specversion"),
        ({"id": None}, "/id"),
    ],
)
async def test_an_sap_event_without_cloudevents_1_0s_attributes_is_a_400_naming_them(
    fields: dict[str, Any], pointer: str
) -> None:
    """SAP's events are CloudEvents 1.0, which requires `specversion`, `id`, `source` and
    `type`. The CloudEvents library takes an event without `specversion` as 1.0 and gives one
    without `id` an id of its own, as it gives one without `time` the moment it was parsed: the
    body itself must say."""
    async with _erp_facing_gateway() as erp:
        sent = await _push(erp, _sap_event(sequence="1"))
        answer = await _push(erp, _sap_event(sequence="1", **fields))
    assert sent.status_code == 202, sent.text[:200]
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert [e["pointer"] for e in answer.json()["errors"]] == [pointer]


# JSON nested deeper than Python's parser recurses, yet far inside every body limit (58 kB).
_NESTED_PAST_THE_PARSER = b"[" * 29_000 + b"]" * 29_000


@pytest.mark.parametrize("backend", ["legacy", "cloud"])
async def test_a_notification_nested_past_the_parsers_depth_is_a_400_not_a_500(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed as the backend signs (an ERP's bug, or its secret leaked), an SAP event or a
    NetSuite notification of brackets nested 29,000 deep is no notification: a 400, as a body
    that is not JSON is, not a 500 with a traceback logged that the ERP sends again."""
    async with _erp_facing_gateway() as erp:
        answer = await _signed_push(erp, backend, _NESTED_PAST_THE_PARSER)
    assert answer.status_code == 400, (answer.status_code, answer.json()["code"])
    assert answer.json()["errors"][0]["pointer"] == ""
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _signed_push(erp: httpx.AsyncClient, backend: str, body: bytes) -> httpx.Response:
    """`body` pushed to `backend` authenticated as it is: SAP's bearer secret (legacy) or
    NetSuite's signature of the body (cloud)."""
    if backend == "legacy":
        headers = {"Authorization": f"Bearer {SAP_SECRET}"}
    else:
        signature = hmac.new(CLOUD_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Signature": f"sha256={signature}"}
    return await erp.post(
        f"/erp-events/{backend}",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    ("backend", "body", "pointer"),
    [
        (
            "cloud",
            b'{"recordType":"salesOrder","recordId":"1","recordId":"2","sequence":1}',
            "/recordId",
        ),
        ("legacy", _sap_event(sequence="1")[:-1] + b', "sequence": "2"}', "/sequence"),
        (
            "legacy",
            _sap_event(sequence="1", data=None)[:-1]
            + b', "data": {"SalesOrder": "1", "SalesOrder": "2"}}',
            "/data/SalesOrder",
        ),
    ],
)
async def test_a_notification_giving_a_key_twice_is_a_400_at_the_key(
    backend: str, body: bytes, pointer: str
) -> None:
    """A parser keeps one of the two values silently (Python's the last, another the first):
    which order changed is then the parser's guess. Every other body the gateway takes
    refuses a key given twice; so does the ERPs' way in, SAP's and NetSuite's alike."""
    async with _erp_facing_gateway() as erp:
        answer = await _signed_push(erp, backend, body)
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert [e["pointer"] for e in answer.json()["errors"]] == [pointer]


@pytest.mark.parametrize(
    "body", [_NESTED_PAST_THE_PARSER, b'{"body": {"lines": ' + _NESTED_PAST_THE_PARSER + b"}}"]
)
async def test_a_replay_request_nested_past_the_parsers_depth_is_a_400_not_a_500(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """As the admin API's other JSON bodies are (explain, migrations): not JSON it can read."""
    async with in_process_gateway(MemoryStore()) as gw, _unraised_admin_client(gw) as ops:
        replay = await ops.post(
            "/admin/transactions/tx_unknown/replay",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    assert replay.status_code == 400, (replay.status_code, replay.json()["code"])
    assert replay.json()["errors"][0]["pointer"] == ""
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("asked", "pointer"),
    [
        ({"operation": "sales_orders.creat", "legal_entity": "DE01"}, "/operation"),
        ({"operation": "sales_orders.create", "legal_entity": "ZZ99"}, "/legal_entity"),
    ],
)
async def test_an_explanation_of_an_unknown_name_points_at_the_field_that_holds_it(
    asked: dict[str, str], pointer: str
) -> None:
    """A legal entity the routes do not know was pointed at as `/operation`, which a client
    marking the field it names would have shown as the one to fix."""
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        explained = await ops.post("/admin/routes/explain", json=asked)
    assert explained.status_code == 400, explained.text
    assert [e["pointer"] for e in explained.json()["errors"]] == [pointer]
    assert asked[pointer[1:]] in explained.json()["detail"]


@pytest.mark.parametrize("customer_id", ["so_abc", "CUS_ABC", "cus_a b", "cus_"])
async def test_an_explanation_for_what_is_no_customer_id_is_a_400_at_it(customer_id: str) -> None:
    """`customer_id` is an id as the gateway gives them, as in an order's body: anything else
    was explained as a customer the gateway does not know, placed by its external_ref's bucket
    or the rule's default (200), the mistake never said."""
    asked = {
        "operation": "sales_orders.create",
        "legal_entity": "DE01",
        "customer_id": customer_id,
    }
    async with in_process_gateway(MemoryStore()) as gw, gw.client("ops-admin") as ops:
        explained = await ops.post("/admin/routes/explain", json=asked)
        known = await ops.post("/admin/routes/explain", json={**asked, "customer_id": "cus_x1"})
    assert explained.status_code == 400, explained.text
    assert [e["pointer"] for e in explained.json()["errors"]] == ["/customer_id"]
    assert known.status_code == 200, known.text  # one it does not know: explained as such

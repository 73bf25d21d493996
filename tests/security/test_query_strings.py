"""Query strings the domain API does not take: ignored, never kept. A bearer token sent as
`?access_token=` beside the Authorization header (RFC 6750 2.3, which the gateway does not
read) must not end up in the journal, where every operator reads it for a week."""

from __future__ import annotations

import json

from gateway.store.journal import JournalQuery
from gateway.store.memory import MemoryStore
from tests.e2e import payloads
from tests.harness import Gateway, in_process_gateway, token_for


async def _journaled(gw: Gateway) -> str:
    await gw.runtime.journal.flush()
    page = await gw.runtime.store.journal.page(JournalQuery(limit=200))
    return json.dumps(page.items)


async def test_a_token_in_a_writes_query_string_is_never_journaled() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        leaked = token_for("crm-demo")
        response = await api.post(
            "/v1/sales-orders",
            params={"access_token": leaked},
            json=payloads.order("US01", customer["id"]),
            headers=payloads.new_key(),
        )
        assert response.status_code == 201, response.text
        journaled = await _journaled(gw)
        assert response.json()["id"] in journaled
        assert leaked not in journaled


async def test_a_query_parameter_an_endpoint_does_not_take_is_ignored() -> None:
    """A client adding a parameter the API does not know keeps working (within a version, the
    API takes what it took)."""
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        customer = (await api.post("/v1/customers", json=payloads.customer("US01"))).json()
        response = await api.get(f"/v1/customers/{customer['id']}", params={"expand": "all"})
        assert response.status_code == 200, response.text


async def test_a_search_still_refuses_a_parameter_it_does_not_take() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.get("/v1/customers", params={"external_ref": "CRM-NONE"})
        assert response.status_code == 200, response.text
        assert response.json() == {"items": []}
        refused = await api.get("/v1/customers", params={"external_ref": "X", "expand": "all"})
        assert refused.status_code == 400, refused.text
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/expand"]

"""The NetSuite REST client: bearer-token calls (a refused token renewed once), records read
with their sublists, `q` queries paged through, and creates answered 204 + Location.

Not what the calls mean (see `adapter.py`) nor payloads (`outbound.py`, `inbound.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.adapters.base import CallContext
from gateway.adapters.http import ErpResponse, ErpTransport
from gateway.adapters.netsuite.errors import (
    error_from_response,
    is_duplicate_external_id,
    same_submission,
)
from gateway.adapters.netsuite.fields import bad_response
from gateway.adapters.netsuite.records import (
    Interaction,
    external_id_key,
    record_id_from_location,
    record_path,
)
from gateway.adapters.netsuite.tokens import ACCEPT_JSON, BearerTokens
from gateway.domain.errors import GatewayReferenceTaken

EXPANDED = {"expandSubResources": "true"}
PAGE_SIZE = 1000


class NetSuiteClient:
    """Calls to one NetSuite account under its OAuth tokens."""

    def __init__(self, transport: ErpTransport, tokens: BearerTokens) -> None:
        self._transport = transport
        self._tokens = tokens

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def send(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> ErpResponse:
        """One authorised call; a refused token is renewed once and the call sent again."""
        token = await self._tokens.current(ctx)
        response = await self._request(method, path, ctx, token, params, json_body)
        if response.status == 401:
            # Not processed, so safe to send again, writes included.
            self._tokens.discard(token)
            token = await self._tokens.current(ctx)
            response = await self._request(method, path, ctx, token, params, json_body)
        return response

    async def _request(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        token: str,
        params: Mapping[str, str] | None,
        json_body: Any,
    ) -> ErpResponse:
        return await self._transport.request(
            method,
            path,
            params=params,
            headers={**ctx.trace_headers(), **ACCEPT_JSON, "Authorization": f"Bearer {token}"},
            json_body=json_body,
            deadline=ctx.deadline,
        )

    async def read(self, record_type: str, key: str, ctx: CallContext) -> dict[str, Any] | None:
        """One record with its sublists; None when NetSuite has no such record."""
        response = await self.send("GET", record_path(record_type, key), ctx, params=EXPANDED)
        if response.status == 404:
            return None
        if response.status != 200:
            raise error_from_response(response, Interaction.READ, write=False)
        record = response.json()
        if not isinstance(record, dict):
            raise bad_response("The ERP sent something other than a record.")
        return record

    async def ids(self, record_type: str, q: str, ctx: CallContext) -> list[str]:
        """Internal ids of the records matching a `q` query, every page of them."""
        ids: list[str] = []
        offset = 0
        while True:
            params = {"q": q, "limit": str(PAGE_SIZE), "offset": str(offset)}
            response = await self.send("GET", record_path(record_type), ctx, params=params)
            if response.status != 200:
                raise error_from_response(response, Interaction.READ, write=False)
            page = response.json()
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise bad_response("The ERP sent a list the gateway could not read.")
            ids.extend(str(i["id"]) for i in items if isinstance(i, dict) and "id" in i)
            if page.get("hasMore") is not True or not items:
                return ids
            offset += len(items)

    async def reads(
        self, record_type: str, ids: Sequence[str], ctx: CallContext
    ) -> list[dict[str, Any]]:
        records = await asyncio.gather(*(self.read(record_type, i, ctx) for i in ids))
        return [r for r in records if r is not None]

    async def create(
        self,
        record_type: str,
        record: dict[str, Any],
        interaction: Interaction,
        ctx: CallContext,
    ) -> dict[str, Any]:
        """POST (answered 204 + Location), then read the record back for what NetSuite set."""
        response = await self.send("POST", record_path(record_type), ctx, json_body=record)
        duplicate = False
        if response.status == 204:
            key = record_id_from_location(response.header("Location"), record_type)
        elif is_duplicate_external_id(response):
            # A record with this gateway reference exists: an earlier attempt of this request,
            # or the same client and key reused (after retention) for another request.
            key = external_id_key(record["externalId"])
            duplicate = True
        else:
            raise error_from_response(response, interaction, write=True)
        created = await self.read(record_type, key, ctx)
        if created is None:
            raise bad_response(
                "The ERP accepted the record but could not show it; the outcome is unknown.",
                ambiguous=True,
            )
        if duplicate and not same_submission(record, created):
            # Another request's document holds this gateway reference: a fact the idempotency
            # layer turns into its answer (the same key used for a different request).
            raise GatewayReferenceTaken(record["externalId"])
        return created

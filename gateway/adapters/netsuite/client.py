"""The NetSuite REST client: authorised calls (a refused bearer token renewed once), records read
with their sublists, `q` queries paged through, and creates answered 204 + Location.

Not what the calls mean (see `adapter.py`) nor payloads (`outbound.py`, `inbound.py`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from gateway.adapters.answers import AnswerBoundary
from gateway.adapters.base import CallContext
from gateway.adapters.http import ErpResponse, ErpTransport
from gateway.adapters.netsuite.auth import Authorizer
from gateway.adapters.netsuite.errors import (
    error_from_response,
    is_duplicate_external_id,
    is_not_found,
    same_submission,
)
from gateway.adapters.netsuite.fields import bad_response, ref_id
from gateway.adapters.netsuite.records import (
    Interaction,
    external_id_key,
    record_id_from_location,
    record_path,
)
from gateway.adapters.netsuite.tokens import ACCEPT_JSON
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.domain.errors import GatewayError, GatewayReferenceTaken

EXPANDED = {"expandSubResources": "true"}
PAGE_SIZE = 1000
MAX_PAGES = 50  # pages of one list query followed (hasMore) before it gives up


class NetSuiteClient:
    """Calls to one NetSuite account, each authorised by the backend's login method."""

    def __init__(
        self,
        transport: ErpTransport,
        auth: Authorizer,
        answers: AnswerBoundary,
        maps: NetSuiteMaps,
    ) -> None:
        self._transport = transport
        self._auth = auth
        self._answers = answers
        self._maps = maps  # to word NetSuite's refusals in canonical terms

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
        accept: Mapping[str, str] = ACCEPT_JSON,
    ) -> ErpResponse:
        """One authorised call; a refused token is renewed once and the call sent again."""
        authorization = await self._auth.authorization(method, path, params, ctx)
        response = await self._request(method, path, ctx, params, json_body, accept, authorization)
        if response.status == 401 and self._auth.refused(authorization):
            # Not processed, so safe to send again, writes included.
            authorization = await self._auth.authorization(method, path, params, ctx)
            response = await self._request(
                method, path, ctx, params, json_body, accept, authorization
            )
        return response

    def _request(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        params: Mapping[str, str] | None,
        json_body: Any,
        accept: Mapping[str, str],
        authorization: str,
    ) -> Awaitable[ErpResponse]:
        """The transport's call with `authorization` (its coroutine: no frame of its own in
        each resumption of the call)."""
        headers = ctx.trace_headers()  # a new dict: the call's own
        headers.update(accept)
        headers["Authorization"] = authorization
        return self._transport.request(
            method, path, params=params, headers=headers, json_body=json_body, deadline=ctx.deadline
        )

    async def read(self, record_type: str, key: str, ctx: CallContext) -> dict[str, Any] | None:
        """One record with its sublists; None when NetSuite itself says it has no such record
        (any other 404 is a bad response: the record is not known gone)."""
        response = await self.send("GET", record_path(record_type, key), ctx, params=EXPANDED)
        if response.status == 404 and self._answers.mapped(ctx, lambda: is_not_found(response)):
            return None
        if response.status != 200:
            raise self.refusal(response, Interaction.READ, ctx, write=False)
        return self._answers.mapped(ctx, functools.partial(_record, response))

    async def ids(self, record_type: str, q: str, ctx: CallContext) -> list[str]:
        """Internal ids of the records matching a `q` query, every page of them, up to
        MAX_PAGES. A page that repeats the one before (an account or proxy that ignores
        `offset`) would be asked for again until the deadline: it is a bad response at once."""
        ids: list[str] = []
        previous: list[str] = []
        for _ in range(MAX_PAGES):
            params = {"q": q, "limit": str(PAGE_SIZE), "offset": str(len(ids))}
            response = await self.send("GET", record_path(record_type), ctx, params=params)
            if response.status != 200:
                raise self.refusal(response, Interaction.READ, ctx, write=False)
            page_ids, more = self._answers.mapped(ctx, functools.partial(_page, response))
            if previous and page_ids == previous:
                raise self._answers.bad_response(
                    ctx,
                    f"the page at offset {len(ids)} repeats the one before",
                    write=False,
                    detail="The ERP sent the same page of a list twice.",
                )
            ids.extend(page_ids)
            if not more:
                return ids
            previous = page_ids
        raise self._answers.bad_response(
            ctx,
            f"more than {MAX_PAGES} pages",
            write=False,
            detail="The ERP's answer runs to more pages than the gateway reads.",
        )

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
            location = response.header("Location")
            key = self._answers.mapped(
                ctx, lambda: record_id_from_location(location, record_type), write=True
            )
        elif self._answers.mapped(ctx, lambda: is_duplicate_external_id(response)):
            # A record with this gateway reference exists: an earlier attempt of this request,
            # or the same client and key reused (after retention) for another request.
            key = external_id_key(record["externalId"])
            duplicate = True
        else:
            raise self.refusal(response, interaction, ctx, write=True)
        created = await self.read(record_type, key, ctx)
        if created is None:
            raise self._answers.bad_response(
                ctx,
                "the created record cannot be read back",
                write=True,
                detail="The ERP accepted the record but could not show it; the outcome is unknown.",
            )
        if duplicate and not self._answers.mapped(
            ctx, lambda: same_submission(record, created), write=True
        ):
            # Another request's document holds this gateway reference: a fact the idempotency
            # layer turns into its answer (the same key used for a different request).
            raise GatewayReferenceTaken(record["externalId"])
        return created

    def refusal(
        self, response: ErpResponse, interaction: Interaction, ctx: CallContext, *, write: bool
    ) -> GatewayError:
        """The problem a NetSuite answer that is not a success means, to raise."""
        return self._answers.refusal(
            ctx,
            lambda: error_from_response(response, interaction, write=write, maps=self._maps),
            read=interaction is Interaction.READ,
        )


def _record(response: ErpResponse) -> dict[str, Any]:
    record = response.json()
    if not isinstance(record, dict):
        raise bad_response("The ERP sent something other than a record.")
    return record


def _page(response: ErpResponse) -> tuple[list[str], bool]:
    """The internal ids on one page of a list, and whether more pages follow."""
    page = response.json()
    items = page.get("items") if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise bad_response("The ERP sent a list the gateway could not read.")
    ids = [ref_id(item) if isinstance(item, dict) else None for item in items]
    known = [i for i in ids if i is not None]
    if len(known) < len(ids):
        raise bad_response("The ERP sent a list item without an id.")
    return known, page.get("hasMore") is True and bool(items)

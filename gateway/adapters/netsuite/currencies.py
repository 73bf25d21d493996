"""NetSuite currencies the value maps lack: each one's ISO 4217 code read once from NetSuite's
currency record (its `symbol`) and kept for the adapter's life, as currencies hardly ever change
(a reload builds new adapters, so it reads them again).

Not the value maps, which answer first (see `value_maps.py`), nor the records' mapping
(`inbound.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateway.adapters.answers import AnswerBoundary
from gateway.adapters.base import CallContext
from gateway.adapters.netsuite.records import CURRENCY
from gateway.domain.currencies import iso_currency

if TYPE_CHECKING:
    from gateway.adapters.netsuite.client import NetSuiteClient

# Currencies kept per adapter; past this many the oldest is forgotten (accounts have dozens).
KEPT = 256
# What the client is told when a currency cannot be read as an ISO code: never NetSuite's name.
NOT_ISO = "The ERP named a currency the gateway cannot read as an ISO 4217 code."


class CurrencyCodes:
    """NetSuite currency internal id -> ISO 4217 code, as NetSuite's currency records say; at
    most `limit` of them. Only codes read are kept: a currency that could not be read is asked
    for again next time (NetSuite may have been fixed meanwhile). Requests that need a currency
    while it is being read wait for that read rather than each reading it again (a burst of
    orders in a new currency is one read, not one per order)."""

    __slots__ = ("_codes", "_limit", "_reading")

    def __init__(self, limit: int = KEPT) -> None:
        self._codes: dict[str, str] = {}
        self._limit = limit
        # The reads under way, by currency id: each one's future holds the code it read, or
        # None when it failed (its waiters then read for themselves, in their own context).
        self._reading: dict[str, asyncio.Future[str | None]] = {}

    def get(self, currency_id: str) -> str | None:
        return self._codes.get(currency_id)

    async def read(
        self,
        currency_ids: Iterable[str],
        client: NetSuiteClient,
        answers: AnswerBoundary,
        ctx: CallContext,
        *,
        write: bool = False,
    ) -> None:
        """Reads and keeps the code of each of `currency_ids` (one currency record each, in
        the request's call context); raises erp_bad_response for one that has none."""
        await asyncio.gather(*(self._read(i, client, answers, ctx, write) for i in currency_ids))

    async def _read(
        self,
        currency_id: str,
        client: NetSuiteClient,
        answers: AnswerBoundary,
        ctx: CallContext,
        write: bool,
    ) -> None:
        under_way = self._reading.get(currency_id)
        # Shielded: a waiter that is cancelled (its client went away) leaves the read going
        # for the others. The future is only ever given a result, so anything raised here is
        # the waiter's own cancellation.
        if under_way is not None and await asyncio.shield(under_way) is not None:
            return
        if currency_id in self._codes:  # read meanwhile by a request that did not wait
            return
        reading: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._reading[currency_id] = reading
        try:
            self._keep(currency_id, await self._code(currency_id, client, answers, ctx, write))
        finally:
            reading.set_result(self._codes.get(currency_id))
            if self._reading.get(currency_id) is reading:
                del self._reading[currency_id]

    async def _code(
        self,
        currency_id: str,
        client: NetSuiteClient,
        answers: AnswerBoundary,
        ctx: CallContext,
        write: bool,
    ) -> str:
        """The ISO code NetSuite's record of the currency holds; erp_bad_response if none."""
        record = await client.read(CURRENCY, currency_id, ctx)
        symbol = record.get("symbol") if record is not None else None
        code = iso_currency(symbol)
        if code is None:
            reason = (
                f"currency {currency_id} has no record"
                if record is None
                else f"currency {currency_id} has symbol {symbol!r}, not an ISO 4217 code"
            )
            raise answers.bad_response(ctx, reason, write=write, detail=NOT_ISO)
        return code

    def _keep(self, currency_id: str, code: str) -> None:
        if currency_id not in self._codes and len(self._codes) >= self._limit:
            del self._codes[next(iter(self._codes))]
        self._codes[currency_id] = code

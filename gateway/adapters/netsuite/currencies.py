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
    for again next time (NetSuite may have been fixed meanwhile)."""

    __slots__ = ("_codes", "_limit")

    def __init__(self, limit: int = KEPT) -> None:
        self._codes: dict[str, str] = {}
        self._limit = limit

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
        if currency_id not in self._codes and len(self._codes) >= self._limit:
            del self._codes[next(iter(self._codes))]
        self._codes[currency_id] = code

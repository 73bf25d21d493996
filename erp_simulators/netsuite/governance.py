"""Concurrency governance: how many requests one integration may have in flight at once, as
NetSuite limits integrations (the account's limit, or the one set on the integration record).

Not the error document a refusal is written as (see `errors`: 429 CONCURRENCY_LIMIT_EXCEEDED).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.responses import Response

from erp_simulators.netsuite.errors import error_response

TOO_MANY_REQUESTS = 429


@dataclass
class Governance:
    """In-flight requests per integration against `concurrency_limit` (None: unlimited)."""

    concurrency_limit: int | None = None
    in_flight: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    async def governed(self, caller: str, work: Callable[[], Awaitable[Response]]) -> Response:
        """`work()`, unless `caller` already has as many requests in flight as allowed."""
        limit = self.concurrency_limit
        if limit is not None and self.in_flight[caller] >= limit:
            # Refused on arrival, before any work: the request may simply be sent again.
            self.refused += 1
            return error_response(TOO_MANY_REQUESTS)
        self.in_flight[caller] += 1
        try:
            return await work()
        finally:
            self.in_flight[caller] -= 1

    def state(self) -> dict[str, object]:
        return {
            "concurrency_limit": self.concurrency_limit,
            "in_flight": {k: v for k, v in self.in_flight.items() if v},
            "refused": self.refused,
        }

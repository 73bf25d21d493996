"""Polling the ERPs that cannot push (`events: {mode: poll}` in their backend file): every
`poll_interval_s`, one gateway process reads the open sales orders the gateway knows in that ERP
and records what changed, as a pushed notification would.

The store's watermark (the last round's start) makes one process poll per interval, whichever
runs; a round's start is the change sequence of what it reads, so a later round always wins.
Not an ERP change query: the adapters read orders by id, so a round costs one read per open
order (cheap for the gateway's own orders; a paid or cancelled order is not read again). Each
read takes a request of the ERP's budget, waiting its turn as a migration job's calls do: a
round never pushes the ERP past what `rate-limits.yaml` allows it with the clients' requests.
Each goes through the ERP's circuit breaker too: a round's failures count toward opening it, and
while it is open the round ends, reading nothing more, and the next round tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from gateway.domain.models import SalesOrderStatus
from gateway.domain.operations import Kind
from gateway.observability.event_metrics import ERP_NOTIFICATIONS
from gateway.ops.background import BackgroundTask
from gateway.ops.job_calls import JobCaller
from gateway.runtime import Runtime
from gateway.service.breaker import refused_by_breaker
from gateway.service.erp_calls import Origin
from gateway.service.order_events import OrderEvents, Subscribers
from gateway.store.base import StoreUnavailable
from gateway.store.outage import StoreOutage

log = logging.getLogger("gateway.events")

TICK_S = 0.5  # how often the poller checks whether a backend's interval has passed
_SETTLED = frozenset({SalesOrderStatus.PAID.value, SalesOrderStatus.CANCELLED.value})


class ErpPolling:
    def __init__(
        self,
        current: Callable[[], Runtime],
        recorded: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._current = current
        self._recorded = recorded
        self._clock = clock
        self._task = BackgroundTask(self._run)
        self._outage = StoreOutage(log, "ERP polling")

    def start(self) -> None:
        self._task.start()

    async def aclose(self) -> None:
        await self._task.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
                self._outage.up()
            except StoreUnavailable:
                self._outage.down()
            except Exception:
                log.exception("polling an ERP for changes failed")
            await asyncio.sleep(TICK_S)

    async def poll_once(self) -> int:
        """One round for each polled backend whose interval has passed; events recorded."""
        runtime = self._current()
        recorded = 0
        for name, backend in runtime.config.backends.items():
            events = backend.events
            if events is None or events.mode != "poll" or name not in runtime.backends:
                continue
            started = self._clock()
            watermark = await runtime.store.events.claim_poll(name, events.poll_interval_s, started)
            if watermark is None:
                continue
            recorded += await self._round(runtime, name, int(started * 1_000_000))
        if recorded and self._recorded is not None:
            self._recorded()
        return recorded

    async def _round(self, runtime: Runtime, backend: str, sequence: int) -> int:
        observer = OrderEvents(
            runtime.store,
            Subscribers(runtime.config.subscriptions, runtime.entitlements),
            runtime.event_retention,
            JobCaller(self._current, f"poll-{uuid.uuid4()}", Origin.POLLING),
        )
        recorded = 0
        for legal_entity in sorted(runtime.config.routes.legal_entities):
            for record in await runtime.store.xrefs_of(Kind.SALES_ORDER, legal_entity):
                if record.backend != backend:
                    continue
                state = await runtime.store.events.document_state(record.gateway_id)
                if state.snapshot and state.snapshot.get("status") in _SETTLED:
                    continue
                try:
                    observed = await observer.observe(backend, record.erp_id, sequence)
                except Exception as error:
                    if refused_by_breaker(error):  # the ERP is failing: left alone till then
                        log.warning("polling %s: its circuit breaker is open; next round", backend)
                        return recorded
                    log.warning("polling %s: order %s unreadable", backend, record.gateway_id)
                    continue
                ERP_NOTIFICATIONS.labels(backend, observed.reason).inc()
                recorded += observed.recorded
        return recorded

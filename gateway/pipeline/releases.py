"""Pending releases: what a request that stores no outcome (a read, a refusal) gives back on
its way out (its ERP slot, and its ERP budget when it never reached the ERP), sent with the
next admission's round trip, or by a timer within `DELAY_S` when no request comes first.

The answer to such a request does not depend on its release, so the client does not wait for
one: a read costs one store round trip, not two. Queued ahead of the next admission's own
commands, a release is applied before that admission takes a slot (one client reading in a
loop never finds its own last slot held). A release that is lost (the store unreachable, the
process gone) holds its slot until its lease runs out, as a crashed holder's would. Nothing is
refunded twice: a round trip that failed may still have reached the store.

Not what a keyed request settles: its outcome is stored before its answer leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.store.base import BucketRequest, GiveBack, SlotRequest, Store, StoreUnavailable

DELAY_S = 0.005
log = logging.getLogger("gateway.admission")


class PendingReleases:
    """Slots and refunds waiting for a round trip to the store."""

    def __init__(self, store: Store, delay_s: float = DELAY_S) -> None:
        self._store = store
        self._delay_s = delay_s
        self._slots: list[SlotRequest] = []
        self._refunds: list[BucketRequest] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._unanswered = 0  # sent by `flush` in a round trip that has not ended

    def add(self, slot: SlotRequest | None, refunds: list[BucketRequest]) -> None:
        if slot is not None:
            self._slots.append(slot)
        self._refunds += refunds
        self._schedule()

    @property
    def pending(self) -> int:
        """Slots and refunds not known to be given back: waiting for a round trip, or in one
        cancelled before its reply (the forced stop's write-out cuts its last one short)."""
        return len(self._slots) + len(self._refunds) + self._unanswered

    def take(self) -> GiveBack:
        """Everything pending, for the caller to send (and `restore` if it cannot). A timer
        already set is left to run out: it sends what was added since, if anything (cheaper,
        under steady traffic, than a timer cancelled and set again for every request)."""
        taken = GiveBack(self._slots, self._refunds)
        self._slots, self._refunds = [], []
        return taken

    def restore(self, back: GiveBack) -> None:
        """What `take` handed out, back for the next round trip, after the one that carried it
        failed: its slots, which a second release leaves released, but not its refunds. That
        round trip may have reached the store before it failed (a reply too late, a connection
        lost after the write), and a refund given twice gives an ERP's budget back twice; one
        lost costs that budget one request, until its window moves on."""
        self._slots[:0] = back.slots
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and (self._slots or self._refunds):
            self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not (self._slots or self._refunds):
            return  # an admission took them
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush(self) -> None:
        """Send what is pending now, in one round trip."""
        back = self.take()
        if not back:
            return
        sent = len(back.slots) + len(back.refunds)
        self._unanswered += sent
        try:
            await self._store.give_back(back)
        except StoreUnavailable:
            log.warning("store unavailable: %d slots left to their leases", len(back.slots))
        self._unanswered -= sent  # answered, or refused: not when cancelled, still unknown

    async def aclose(self) -> None:
        for task in list(self._flushing):
            with contextlib.suppress(Exception):
                await task
        await self.flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

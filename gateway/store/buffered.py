"""A buffered writer: items put on the request path (no I/O there), written to the store by a
background task in batches, and flushed whole when the process stops gracefully.

A batch the store refuses is kept and written again later, whole and before anything put
since: a store that lost only its reply may hold it already, and the stores recognize a batch
(the audit chain by its first event) to apply it once. Only beyond `max_pending` items, or
beyond `max_pending_bytes` of the sizes they were put with, does the oldest go (counted and
logged), so that a store outage cannot take the memory: a count alone would let a few large
items (a journal entry carries its request's body, up to the body limit) hold gigabytes.

An outage is logged as writes start failing, at most every OUTAGE_LOG_INTERVAL_S while they
keep failing, and as they succeed again (`StoreOutage`), not at each retry: every second, for
each writer of each worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from gateway.store.base import StoreUnavailable
from gateway.store.outage import StoreOutage

T = TypeVar("T")
log = logging.getLogger("gateway.store")

FLUSH_INTERVAL_S = 0.05
MAX_BATCH = 256
RETRY_INTERVAL_S = 1.0
MAX_PENDING_BYTES = 64 * 1024 * 1024
OUTAGE_LOG_INTERVAL_S = 60.0


class BufferedWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        max_pending: int = 100_000,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        on_failure: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._write = write
        self._pending: deque[tuple[T, int]] = deque()  # each item and its size
        self._pending_bytes = 0
        # The first items of `_pending` that were last written without a reply: the next
        # write is the same batch (the store may hold it already).
        self._unconfirmed = 0
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._on_failure = on_failure
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._dropped = 0
        self._outage = StoreOutage(log, name, remind_every_s=OUTAGE_LOG_INTERVAL_S, clock=clock)
        self._written_late = 0  # in the outage under way, once the store takes writes again

    def put(self, item: T, size: int = 0) -> None:
        """Queue one item, of `size` bytes against `max_pending_bytes` (its bytes as written,
        say); the background task writes it within about FLUSH_INTERVAL_S."""
        while self._pending and (
            len(self._pending) >= self._max_pending
            or self._pending_bytes + size > self._max_pending_bytes
        ):
            self._drop_oldest()
        self._pending.append((item, size))
        self._pending_bytes += size
        task = self._task
        if task is None or task.done():
            self._ensure_running()
        self._wake.set()

    def _drop_oldest(self) -> None:
        if self._unconfirmed < len(self._pending):  # the oldest outside that batch
            _, size = self._pending[self._unconfirmed]
            del self._pending[self._unconfirmed]
        else:
            _, size = self._pending.popleft()
            self._unconfirmed -= 1
        self._pending_bytes -= size
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 1000 == 0:
            log.error(
                "%s: store unreachable for long, oldest entries dropped",
                self._name,
                extra={"dropped": self._dropped},
            )

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        """The sizes of the items pending, as they were put."""
        return self._pending_bytes

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: flushed on close
                self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        task = asyncio.current_task()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(FLUSH_INTERVAL_S)  # gather a batch
            if not await self.flush():
                if task is not None and task.cancelling():
                    # Stopped while the store was failing (a client library may turn the
                    # cancellation into a timeout): what is pending waits for aclose.
                    return
                await asyncio.sleep(RETRY_INTERVAL_S)
                self._wake.set()

    async def flush(self) -> bool:
        """Write everything pending; False if the store refused (the items stay pending)."""
        async with self._lock:
            while self._pending:
                size = self._unconfirmed or min(MAX_BATCH, len(self._pending))
                batch = [self._pending[i][0] for i in range(size)]
                # Unconfirmed from now: a put while it is on its way drops the oldest outside
                # it (and `_drop_oldest` counts off any it must take from it), so that its
                # success takes off the queue what is left of it, never a later item unwritten.
                self._unconfirmed = size
                try:
                    await self._write(batch)
                except Exception as exc:
                    # Unreachable, or refusing in a way no one foresaw (an error reply):
                    # either way the entries are kept and written again, never lost with
                    # a background task that died of it.
                    if self._on_failure is not None:
                        self._on_failure(len(batch))
                    if not self._outage.down_now:
                        self._written_late = 0
                    kept = f", {len(self._pending)} entries kept for later"
                    if isinstance(exc, StoreUnavailable):
                        self._outage.down(kept)
                    else:
                        self._outage.down(
                            f" (it refused a write: {exc}){kept}", level=logging.ERROR
                        )
                    return False
                if self._outage.down_now:
                    self._written_late += self._unconfirmed
                for _ in range(self._unconfirmed):
                    self._pending_bytes -= self._pending.popleft()[1]
                self._unconfirmed = 0
            self._outage.up(f", {self._written_late} entries written late")
            return True

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Stop the background task and write what is left (a graceful shutdown loses none,
        unless the store stays unreachable for `timeout_s`)."""
        if self._task is not None:
            async with self._lock:  # a write under way ends first, never cut in half
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._pending and not await self.flush():
            if asyncio.get_running_loop().time() >= deadline:
                log.error("%s: %d entries not written at shutdown", self._name, len(self._pending))
                return
            await asyncio.sleep(0.2)

"""What a background task or writer says of a store outage: one warning as it starts, a reminder
at most every so often while it lasts (if asked), and one line as it ends; not a line (or a
traceback) at every pass or retry, for each task of each worker process.

Not what counts as an outage (`redis_errors.py`), nor what is done meanwhile (its owner's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class StoreOutage:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        remind_every_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._what = what
        self._remind_every_s = remind_every_s
        self._clock = clock
        self._since: float | None = None  # when it started; None while the store works
        self._told_at = 0.0

    @property
    def down_now(self) -> bool:
        return self._since is not None

    def down(self, detail: str = "", *, level: int = logging.WARNING) -> None:
        """The store failed again; `detail` ends the line (what is kept, say), at `level` as
        the outage starts."""
        now = self._clock()
        if self._since is None:
            self._since = self._told_at = now
            self._log.log(
                level,
                "%s: the store is unavailable%s; trying again until it is back",
                self._what,
                detail,
            )
        elif self._remind_every_s is not None and now - self._told_at >= self._remind_every_s:
            self._told_at = now
            self._log.warning(
                "%s: the store is still unavailable after %d s%s",
                self._what,
                now - self._since,
                detail,
            )

    def up(self, detail: str = "") -> None:
        """The store worked; `detail` ends the line as the outage ends (what was caught up)."""
        if self._since is not None:
            lasted = self._clock() - self._since
            self._since = None
            self._log.info("%s: the store is back after %d s%s", self._what, lasted, detail)

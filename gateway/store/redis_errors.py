"""What counts as Redis being unavailable, as opposed to a bug in a script: these become the
gateway's 503 store_unavailable, and the pool reconnects on the next call once Redis is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions as redis_errors

from gateway.store.base import StoreUnavailable

UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.MasterDownError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.OutOfMemoryError,  # `-OOM`: full under `noeviction`, until keys expire
    OSError,
)


# Error replies of a Redis refusing commands for a while, which redis-py reports as a plain
# ResponseError: unavailable for now, not a bug. `BUSY`: a script runs past its time limit;
# `NOREPLICAS`: fewer replicas than `min-replicas-to-write` are in reach; `MISCONF`: a
# snapshot failed under `stop-writes-on-bgsave-error` (a disk full or gone); `LOADING`: the
# dataset is being loaded after a restart.
_REFUSING_FOR_NOW = ("BUSY ", "NOREPLICAS ", "MISCONF ", "LOADING ")


def busy(error: BaseException) -> bool:
    """Whether `error` is Redis refusing commands for now (see `_REFUSING_FOR_NOW`)."""
    return isinstance(error, redis_errors.ResponseError) and str(error).startswith(
        _REFUSING_FOR_NOW
    )


@contextmanager
def unavailable_as_problem() -> Iterator[None]:
    """Turn Redis being unreachable, busy or full into StoreUnavailable."""
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        raise StoreUnavailable() from exc
    except redis_errors.ResponseError as exc:
        if busy(exc):
            raise StoreUnavailable() from exc
        raise

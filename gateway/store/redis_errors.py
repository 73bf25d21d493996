"""What counts as Redis being unavailable, as opposed to a bug in a script: these become the
gateway's 503 store_unavailable, and the pool reconnects on the next call once Redis is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions as redis_errors
from redis.asyncio.connection import parse_url

from gateway.store.base import StoreUnavailable

log = logging.getLogger("gateway.store")

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

# Redis refusing the gateway as it is set up (its URL, Redis's ACL or configuration): no retry
# helps until an operator changes something, so beyond the 503 the log says what, once per
# kind and process (every request meets it). Each kind: what it is, and what to do.
_DATABASE = "Redis refused the database of its URL", "check the number in GATEWAY_REDIS_URL"
_LOGIN = "Redis refused the password of its URL", "check the user and password in GATEWAY_REDIS_URL"
_ACL = (
    "Redis's ACL refused the gateway a command or key",
    "grant GATEWAY_REDIS_URL's user all the commands and keys under the gateway's prefix",
)
_REPLICA = "Redis is a read-only replica", "point GATEWAY_REDIS_URL at the primary"
_DISK = (
    "Redis refuses writes since a snapshot failed",
    "check the disk of Redis's `dir` (or its `stop-writes-on-bgsave-error`)",
)
_told: set[tuple[str, str]] = set()
# The Redis this process's store talks to, as the refusals' line names it (`opened_on`).
_where: str | None = None


def redis_target(url: str, *, cluster: bool = False) -> str:
    """Which Redis and database `url` names, as an operator with several tells them apart
    (`database 3 of 10.0.0.5:6379`, `database 0 of unix:/run/redis.sock`), and nothing of
    its user or password."""
    options = parse_url(url)
    path = options.get("path")
    if path:
        at = f"unix:{path}"
    else:
        host = str(options.get("host") or "localhost")
        at = f"{f'[{host}]' if ':' in host else host}:{options.get('port') or 6379}"
    if cluster:
        return f"the Redis Cluster of node {at}"
    return f"database {int(options.get('db') or 0)} of {at}"


def opened_on(url: str, *, cluster: bool = False) -> None:
    """Note the Redis this process's store talks to (`redis_target`), for the line a refusal
    writes. One per process, GATEWAY_REDIS_URL's, as each kind of refusal is told once per
    process."""
    global _where
    _where = redis_target(url, cluster=cluster)


def busy(error: BaseException) -> bool:
    """Whether `error` is Redis refusing commands for now (see `_REFUSING_FOR_NOW`)."""
    return isinstance(error, redis_errors.ResponseError) and str(error).startswith(
        _REFUSING_FOR_NOW
    )


def _refusal(error: BaseException) -> tuple[str, str] | None:
    """Which refusal of the gateway as it is set up `error` is, if it is one."""
    if isinstance(
        error,
        (redis_errors.AuthenticationError, redis_errors.AuthenticationWrongNumberOfArgsError),
    ):
        return _LOGIN  # -WRONGPASS, -NOAUTH
    if isinstance(error, redis_errors.NoPermissionError):
        return _ACL  # -NOPERM, a script's redis.call's too
    if isinstance(error, redis_errors.ReadOnlyError):
        return _REPLICA
    if isinstance(error, redis_errors.ResponseError):
        # SELECT's answer (redis-py takes the `ERR ` off): no script of ours selects.
        if str(error) == "DB index is out of range":
            return _DATABASE
        if str(error).startswith("MISCONF "):
            return _DISK
    return None


def _tell(error: BaseException) -> bool:
    """Log what `error` is and what to do about it, the first time this process meets its
    kind; whether it is such a refusal at all."""
    refusal = _refusal(error)
    if refusal is None:
        return False
    if refusal not in _told:
        _told.add(refusal)
        what, todo = refusal
        if _where is not None:
            what = f"{what} ({_where})"
        log.error("%s: %s; %s", what, error, todo)
    return True


@contextmanager
def unavailable_as_problem() -> Iterator[None]:
    """Turn Redis being unreachable, busy, full or refusing the gateway's setup into
    StoreUnavailable."""
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        _tell(exc)
        raise StoreUnavailable() from exc
    except redis_errors.ResponseError as exc:
        if _tell(exc) or busy(exc):
            raise StoreUnavailable() from exc
        raise

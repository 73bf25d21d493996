"""Which store a URL names (`GATEWAY_REDIS_URL`): none, the embedded memory store; a Redis
URL, Redis; a `+cluster` one, a Redis Cluster; and what it names, said without its password."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from redis.asyncio.connection import parse_url

from gateway.store.base import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore

# URL schemes redis-py connects to; anything else is a configuration mistake, not a memory store.
# `+cluster`: the URL names one node of a Redis Cluster.
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", *CLUSTER_SCHEMES)


def open_store(url: str | None, *, prefix: str = "gw:") -> Store:
    """The store a URL names: none or empty -> the embedded memory store; a Redis URL -> Redis;
    `redis+cluster://` or `rediss+cluster://` and one node's address -> a Redis Cluster."""
    if not url:
        return MemoryStore()
    if url.startswith(REDIS_SCHEMES):
        _check_readable(url)
    if url.startswith(CLUSTER_SCHEMES):
        return RedisStore.from_url(url.replace("+cluster", "", 1), prefix=prefix, cluster=True)
    if url.startswith(REDIS_SCHEMES):
        return RedisStore.from_url(url, prefix=prefix)
    # The URL itself may hold a password: name the accepted schemes, never echo it.
    raise ValueError(f"a store URL must start with one of {', '.join(REDIS_SCHEMES)}")


def store_description(url: str | None) -> str:
    """What `open_store(url)` would open, for people: the Redis URL without its password."""
    if not url:
        return "memory (this process only)"
    if not url.startswith(REDIS_SCHEMES):
        raise ValueError(f"a store URL must start with one of {', '.join(REDIS_SCHEMES)}")
    _check_readable(url)
    parts = urlsplit(url)
    if parts.password:
        host = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}:" if parts.username else ""
        parts = parts._replace(netloc=f"{user}***@{host}")
    if parts.query:  # redis-py also takes `?password=` as the URL's credentials
        query = [
            (name, "***" if name.lower() == "password" else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query=urlencode(query, safe="*"))
    kind = "Redis Cluster" if url.startswith(CLUSTER_SCHEMES) else "Redis"
    return f"{kind} {urlunsplit(parts)}"


def _check_readable(url: str) -> None:
    """ValueError unless redis-py reads `url` as written: a port that is a number, and a
    database that is one (redis-py takes `/gateway` or `/1x` as database 0, silently). Said
    without the URL, which may hold a password."""
    plain = url.replace("+cluster", "", 1)
    try:
        options = parse_url(plain)
    except ValueError as exc:
        raise ValueError(f"a store URL redis-py cannot read: {exc}") from None
    if plain.startswith("unix://") or "db" in options:
        return
    database = unquote(urlsplit(plain).path).strip("/")
    if database and not database.isdecimal():
        raise ValueError(
            f"the database in a store URL is a number (redis://host:6379/0), not {database!r}"
        )

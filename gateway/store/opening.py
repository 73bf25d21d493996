"""Which store a URL names (`GATEWAY_REDIS_URL`): none, the embedded memory store; a Redis
URL, Redis; a `+cluster` one, a Redis Cluster; and what it names, said without its password."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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

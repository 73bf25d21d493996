"""Verification keys for token issuers: a static key, or a JWKS fetched and refreshed safely.

Not token validation (see `auth.py`). Keys come only from configuration, never from a URL
named inside a token (`jku`, `x5u` are ignored); `kid` is only a lookup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import jwt

log = logging.getLogger("gateway.auth.jwks")

REFRESH_INTERVAL_S = 300.0  # background refresh of a JWKS in use
UNKNOWN_KID_COOLDOWN_S = 30.0  # at most one refetch per this interval for unknown kids
FETCH_TIMEOUT_S = 2.0
MAX_JWKS_BYTES = 256 * 1024


class KeySource(Protocol):
    async def key_for(self, kid: str | None) -> Any | None:
        """The key to verify a token with this `kid`, or None if there is none."""
        ...


class StaticKey:
    """An HMAC secret or a PEM public key from configuration."""

    def __init__(self, key: Any) -> None:
        self._key = key

    async def key_for(self, kid: str | None) -> Any | None:
        return self._key


async def fetch_jwks(url: str) -> dict[str | None, Any]:
    """The JWKS document at `url` (asynchronously; PyJWKClient would block the event loop)."""
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        response.raise_for_status()
        body = await response.content.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        document = jwt.PyJWKSet.from_json(body.decode("utf-8"))
        return keys_by_id(document.keys)


def keys_by_id(keys: list[jwt.PyJWK]) -> dict[str | None, Any]:
    """A key set by `kid`. `kid` is optional (RFC 7517): the one key of a set that holds only
    one may have none, and is kept under None, for tokens that name none; in a set of several,
    a key without one cannot be told apart and is left out."""
    if len(keys) == 1 and not keys[0].key_id:
        return {None: keys[0].key}
    return {k.key_id: k.key for k in keys if k.key_id}


class JwksKeys:
    """A JWKS kept fresh: fetched on first use, refreshed when stale, refetched for an unknown
    `kid` at most once per cooldown, and the last good key set kept when a fetch fails."""

    def __init__(
        self,
        url: str,
        fetch: Callable[[str], Any] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str | None, Any] = {}
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()
        self._background: asyncio.Future[None] | None = None

    async def key_for(self, kid: str | None) -> Any | None:
        now = self._clock()
        unknown = kid is None or kid not in self._keys
        if not self._keys or (unknown and self._cooled_down(now)):
            await self._refresh()  # nothing to verify with yet, or perhaps a rotated key
        elif self._fetched_at is not None and now - self._fetched_at > REFRESH_INTERVAL_S:
            self._start_background_refresh()
        if kid is None:
            # No kid: acceptable only when the issuer publishes exactly one key.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _start_background_refresh(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.ensure_future(self._refresh())

    def _cooled_down(self, now: float) -> bool:
        return self._last_attempt is None or now - self._last_attempt >= UNKNOWN_KID_COOLDOWN_S

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < 1.0:
                return  # another request just refreshed (or failed to): do not stampede
            self._last_attempt = now
            try:
                keys = await self._fetch(self._url)
            except Exception as exc:  # any failure keeps the last good set
                log.warning(
                    "JWKS fetch failed; keeping the last good keys", extra={"err": str(exc)}
                )
                return
            if keys:
                self._keys = dict(keys)
                self._fetched_at = now

"""Verification keys for token issuers: a static key, or a JWKS fetched and refreshed safely.

Not token validation (see `auth.py`). Keys come only from configuration, never from a URL
named inside a token (`jku`, `x5u` are ignored); `kid` is only a lookup. A JWKS key verifies
only what it is meant for: signatures (`use`, `key_ops`), of its own `alg` and of its type.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import aiohttp
import jwt

from gateway.config.public_keys import verifies

log = logging.getLogger("gateway.auth.jwks")

REFRESH_INTERVAL_S = 300.0  # background refresh of a JWKS in use
UNKNOWN_KID_COOLDOWN_S = 30.0  # at most one refetch per this interval for unknown kids
FETCH_TIMEOUT_S = 2.0
MAX_JWKS_BYTES = 256 * 1024


class KeySource(Protocol):
    async def key_for(self, kid: str | None, algorithm: str) -> Any | None:
        """The key to verify a token with this `kid` and `alg`, or None if there is none."""
        ...


class StaticKey:
    """An HMAC secret or a PEM public key from configuration."""

    def __init__(self, key: Any) -> None:
        self._key = key

    async def key_for(self, kid: str | None, algorithm: str) -> Any | None:
        return self._key


async def fetch_jwks(url: str) -> Any:
    """The JWKS document at `url`, parsed (asynchronously; PyJWKClient would block the event
    loop)."""
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        response.raise_for_status()
        body = await response.content.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        return json.loads(body.decode("utf-8"))


KeyIndex = dict[tuple[str | None, str], Any]
"""Verification keys by (`kid`, `alg`); a kid of None is for the tokens that name none."""


def _verifies_signatures(jwk: Mapping[str, Any]) -> bool:
    """Whether a JWK is meant for verifying signatures: its `use`, if any, is `sig` and its
    `key_ops`, if any, include `verify` (RFC 7517 4.2, 4.3)."""
    key_ops = jwk.get("key_ops", ["verify"])
    return jwk.get("use", "sig") == "sig" and isinstance(key_ops, list) and "verify" in key_ops


def _verifying_key(jwk: Mapping[str, Any], algorithm: str) -> Any | None:
    """`jwk` as a key that verifies `algorithm`'s signatures, or None: when the JWK names
    another `alg` (RFC 7517 4.4), or its type, curve or size is not the algorithm's (an EC key
    for RS256, a P-384 key for ES256, a 1024-bit RSA key: `public_keys.verifies`, the rule a
    `public_key_file` is held to)."""
    if jwk.get("alg", algorithm) != algorithm:
        return None
    try:
        jwk_key = jwt.PyJWK(dict(jwk), algorithm)
        key = jwk_key.Algorithm.prepare_key(jwk_key.key)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    return key if verifies(key, algorithm) else None


def verification_keys(document: Any, algorithms: Iterable[str]) -> KeyIndex:
    """A JWKS document's keys by (`kid`, algorithm), for the algorithms an issuer accepts.

    Only keys meant for verifying signatures count, each for the algorithms it can verify, so
    keys of different types may share a `kid` (RFC 7517 4.5). A token without `kid` gets the
    one key that can verify its algorithm, when there is exactly one; a `kid` naming two
    different keys for one algorithm names neither.
    """
    members = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(members, list):
        raise ValueError("not a JWK Set: no `keys` list")
    candidates: dict[tuple[str | None, str], list[Any]] = {}
    for jwk in members:
        if not isinstance(jwk, dict) or not _verifies_signatures(jwk):
            continue
        kid = jwk.get("kid")
        for algorithm in algorithms:
            key = _verifying_key(jwk, algorithm)
            if key is None:
                continue
            slots = [(None, algorithm)] + ([(kid, algorithm)] if isinstance(kid, str) else [])
            for slot in slots:
                keys = candidates.setdefault(slot, [])
                if key not in keys:  # the same key published twice is one key
                    keys.append(key)
    return {slot: keys[0] for slot, keys in candidates.items() if len(keys) == 1}


class JwksKeys:
    """A JWKS kept fresh: fetched on first use, refreshed when stale, refetched at most once
    per cooldown for a `kid` and `alg` no key answers (perhaps a rotated key), and the last
    good key set kept when a fetch fails or has no key for the issuer's algorithms.

    Each fetch is indexed once (see `verification_keys`), for the issuer's `algorithms`."""

    def __init__(
        self,
        url: str,
        algorithms: Iterable[str],
        fetch: Callable[[str], Awaitable[Any]] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._algorithms = tuple(algorithms)
        self._fetch = fetch
        self._clock = clock
        self._keys: KeyIndex = {}
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()
        self._background: asyncio.Future[None] | None = None

    async def key_for(self, kid: str | None, algorithm: str) -> Any | None:
        now = self._clock()
        key = self._keys.get((kid, algorithm))
        if key is None and (not self._keys or self._cooled_down(now)):
            await self._refresh()  # nothing to verify with yet, or perhaps a rotated key
            return self._keys.get((kid, algorithm))
        if self._fetched_at is not None and now - self._fetched_at > REFRESH_INTERVAL_S:
            self._start_background_refresh()
        return key

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
                keys = verification_keys(await self._fetch(self._url), self._algorithms)
                if not keys:
                    raise ValueError(
                        f"no key in it verifies {', '.join(self._algorithms)} signatures"
                    )
            except Exception as exc:  # any failure keeps the last good set
                log.warning(
                    "JWKS fetch failed; keeping the last good keys", extra={"err": str(exc)}
                )
                return
            self._keys = keys
            self._fetched_at = now

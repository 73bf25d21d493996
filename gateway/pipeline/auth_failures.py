"""The limit on each client address's authentication failures: past `auth_failures:` of
`policies/rate-limits.yaml`, the address's requests are refused 429 before any token check.

Not the per-client tiers (see `ratelimit`), and not shared between processes or hosts: the
failures are counted in this process's memory, as Envoy's local rate limit counts, so with N
processes an address may fail up to N times as often. The schema is
`gateway.config.rate_limits.AuthFailuresConfig`; the arithmetic is the stores' GCRA.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.rate_limits import AuthFailuresConfig
from gateway.domain.errors import QUOTA_EXCEEDED_TYPE, Code, GatewayError
from gateway.observability.client_address import client_ip
from gateway.pipeline.ratelimit import limit_header, retry_after
from gateway.store.base import RateDecision
from gateway.store.gcra import gcra

# The policy's name in the 429's `violated-policies` and RateLimit headers.
POLICY = "auth_failures"
# Addresses whose failures are remembered at most (about 150 bytes each: some 15 MB); past it,
# the one that failed or was refused least recently is forgotten, so a flood from ever new
# addresses (an IPv6 range wider than a /64, a botnet) cannot grow the process without bound.
# Such a flood is no one address's to limit anyway.
MAX_TRACKED_ADDRESSES = 100_000


@dataclass
class FailedAddresses:
    """Each recently failed address's GCRA state (its theoretical arrival time, TAT), as long
    as the process lives: a reload hands it to the next runtime, so a new configuration
    does not forgive an address. An address that never failed has no entry."""

    capacity: int = MAX_TRACKED_ADDRESSES
    clock: Callable[[], float] = time.monotonic
    _tats: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._tats)

    def __contains__(self, address: object) -> bool:
        return address in self._tats

    def refusal(self, address: str, rate_per_s: float, burst: int) -> RateDecision | None:
        """The refused decision when `address` has used up its `burst` of failures (its
        `retry_after_s` the wait for one more), else None: it may fail again now."""
        tat = self._tats.get(address)
        if tat is None:
            return None
        decision = gcra(self.clock(), tat, rate_per_s, burst).decision
        if decision.allowed:
            return None
        # Still hammering: remembered as recent, so a flood of others does not forget it.
        self._tats.move_to_end(address)
        return decision

    def failed(self, address: str, rate_per_s: float, burst: int) -> None:
        """Count one authentication failure of `address` (beyond its burst, when requests in
        flight together all failed: not counted, as a refused request is not)."""
        self._tats[address] = gcra(self.clock(), self._tats.get(address), rate_per_s, burst).tat
        self._tats.move_to_end(address)
        if len(self._tats) > self.capacity:
            self._tats.popitem(last=False)


def failing_party(address: str) -> str:
    """Whose failures an address's are: an IPv4 address's own (an IPv4-mapped IPv6 address is
    the IPv4 address), an IPv6 address's /64 network's, as `2001:db8:1:2::/64`. One host is
    commonly given a whole /64 (SLAAC, privacy addresses), so keyed by its address it could
    fail from ever new ones. Anything else (no IP address) is its own."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return f"{ipaddress.IPv6Address(int(ip) >> 64 << 64)}/64"


class AuthFailuresLimited(GatewayError):
    """The 429 of an address over its authentication failures: the tiers' refusal
    (`rate_limited`: a new code waits for a new API version), its policy and detail saying
    which limit it is. Counted in `gateway_auth_failures_limited_total` by the authenticator,
    once per request answered with it."""


def _limited(config: AuthFailuresConfig, decision: RateDecision) -> AuthFailuresLimited:
    return AuthFailuresLimited(
        Code.RATE_LIMITED,
        "Too many failed authentication attempts from this address; retry after the indicated "
        "delay with a valid token.",
        headers={
            "Retry-After": retry_after(decision.retry_after_s),
            "RateLimit-Policy": f'"{POLICY}";q={config.max_failures};w={config.window_s}',
            "RateLimit": limit_header(POLICY, decision),
        },
        extra={"violated-policies": [POLICY]},
        type_uri=QUOTA_EXCEEDED_TYPE,
    )


@dataclass(frozen=True)
class AuthFailureLimit:
    """One configuration's limit over the process's `FailedAddresses`. The authenticator asks
    it only for a request whose token it has not verified already (the hot path, a cached
    token, pays nothing), with the request's ASGI scope: the address is the one the logs name
    (`client_ip`: the peer's, or a trusted proxy's client), an IPv6 one by its /64 (see
    `failing_party`); a request without one is never limited."""

    config: AuthFailuresConfig
    addresses: FailedAddresses

    def check(self, scope: Mapping[str, Any] | None) -> None:
        """Raise `AuthFailuresLimited` when the request's address has used up its failures."""
        party = _party(scope)
        if party is None:
            return
        config = self.config
        refused = self.addresses.refusal(party, config.rate_per_s, config.max_failures)
        if refused is not None:
            raise _limited(config, refused)

    def failed(self, scope: Mapping[str, Any] | None) -> None:
        """Count an authentication failure of the request's address."""
        party = _party(scope)
        if party is not None:
            config = self.config
            self.addresses.failed(party, config.rate_per_s, config.max_failures)


def _party(scope: Mapping[str, Any] | None) -> str | None:
    """Whose failures a request's are (`failing_party` of its `client_ip`); None without an
    address."""
    address = client_ip(scope) if scope is not None else None
    return failing_party(address) if address is not None else None


def failure_limit(
    config: AuthFailuresConfig, addresses: FailedAddresses
) -> AuthFailureLimit | None:
    """The limit `config` sets over `addresses`; None when it is off."""
    return AuthFailureLimit(config, addresses) if config.enabled else None

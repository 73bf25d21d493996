"""Circuit breakers: one per backend in each gateway process, so that an ERP that keeps
failing is left alone (503 erp_unavailable at once, Retry-After, no call) until it may have
recovered, then tried with one request whose outcome closes or reopens the breaker.

Not retries (the transport repeats one HTTP request where safe) and not shared between
processes: each process protects itself and reports its state (metrics, /admin/backends).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gateway.config.backends import BreakerPolicy
from gateway.domain.errors import Code, ErpFailure
from gateway.observability.metrics import BREAKER_STATE, BREAKER_TRANSITIONS

log = logging.getLogger("gateway.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_OPEN_STATE = "breaker_open"  # a refusal's `backend_state`
_GAUGE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


@dataclass(frozen=True)
class BreakerView:
    """What an operator sees of one breaker."""

    backend: str
    state: BreakerState
    enabled: bool
    failures: int  # technical failures in a row so far
    threshold: int
    cool_down_s: float
    retry_in_s: float  # while open: seconds until the trial request; else 0
    opened: int  # times it opened since the process started

    def as_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "state": self.state.value,
            "enabled": self.enabled,
            "failures": self.failures,
            "threshold": self.threshold,
            "cool_down_s": self.cool_down_s,
            "retry_in_s": round(self.retry_in_s, 3),
            "opened": self.opened,
        }


class CircuitBreaker:
    """Closed: calls go through; `policy.failures` technical failures in a row open it.
    Open: calls are refused at once until `cool_down_s` has passed. Half-open: exactly one
    trial call goes through (the others are refused); its success closes the breaker, its
    failure opens it for another cool-down."""

    def __init__(
        self, backend: str, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.backend = backend
        self.policy = policy
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial = False  # a half-open trial call is in flight
        self._opened = 0
        BREAKER_STATE.labels(backend).set(0)

    def admit(self) -> bool:
        """Let one call through, or raise 503 erp_unavailable with Retry-After. True when this
        call is the half-open trial (its outcome decides the breaker)."""
        if not self.policy.enabled or self._state is BreakerState.CLOSED:
            return False
        if self._state is BreakerState.OPEN:
            left = self._opened_at + self.policy.cool_down_s - self._clock()
            if left > 0:
                raise self._refusal(left)
            self._enter(BreakerState.HALF_OPEN)
        if self._trial:
            raise self._refusal(1.0)
        self._trial = True
        return True

    def succeeded(self, trial: bool) -> None:
        """A call's ERP answered (a business rejection is an answer too)."""
        if trial:
            self._trial = False
            self._enter(BreakerState.CLOSED)
        elif self._state is BreakerState.CLOSED:
            self._failures = 0

    def failed(self, trial: bool) -> None:
        """A call failed technically. Calls that started before the breaker opened and end
        after it do not count again."""
        if trial:
            self._trial = False
            self._open()
        elif self._state is BreakerState.CLOSED:
            self._failures += 1
            if self.policy.enabled and self._failures >= self.policy.failures:
                self._open()

    def abandoned(self, trial: bool) -> None:
        """The call ended with no verdict on the ERP (the client left, or the adapter refused
        before sending anything): a trial frees its place for the next request to be the trial."""
        if trial:
            self._trial = False

    def view(self) -> BreakerView:
        retry_in = 0.0
        if self._state is BreakerState.OPEN:
            retry_in = max(0.0, self._opened_at + self.policy.cool_down_s - self._clock())
        return BreakerView(
            self.backend,
            self._state,
            self.policy.enabled,
            self._failures,
            self.policy.failures,
            self.policy.cool_down_s,
            retry_in,
            self._opened,
        )

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._opened += 1
        self._enter(BreakerState.OPEN)

    def _enter(self, state: BreakerState) -> None:
        if state is BreakerState.CLOSED:
            self._failures = 0
        if state is self._state:
            return
        self._state = state
        BREAKER_STATE.labels(self.backend).set(_GAUGE[state])
        BREAKER_TRANSITIONS.labels(self.backend, state.value).inc()
        level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
        log.log(level, "circuit breaker %s", state.value, extra={"backend": self.backend})

    def _refusal(self, retry_in_s: float) -> ErpFailure:
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            f"The {self.backend} ERP is failing; the gateway stopped calling it for a while. "
            "Retry after the indicated delay with the same request.",
            headers={"Retry-After": str(max(1, math.ceil(retry_in_s)))},
            extra={"backend_state": _OPEN_STATE},
        )


def refused_by_breaker(error: BaseException) -> bool:
    """Whether `error` is a breaker's refusal (nothing was sent; the ERP is left alone)."""
    return isinstance(error, ErpFailure) and error.extra.get("backend_state") == _OPEN_STATE


class Breakers:
    """Every backend's breaker in this process, kept across configuration reloads (a reload
    that changes a backend's thresholds applies them to its running breaker)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def for_backend(self, backend: str, policy: BreakerPolicy) -> CircuitBreaker:
        breaker = self._breakers.get(backend)
        if breaker is None:
            breaker = self._breakers[backend] = CircuitBreaker(backend, policy, self._clock)
        else:
            breaker.policy = policy
        return breaker

    def views(self) -> list[BreakerView]:
        return [self._breakers[name].view() for name in sorted(self._breakers)]

"""The circuit breaker's states, on a clock the test moves: closed, open, half-open."""

from __future__ import annotations

import pytest

from gateway.config.backends import BreakerPolicy
from gateway.domain.errors import Code, ErpFailure
from gateway.service.breaker import Breakers, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(failures: int = 3, cool_down_s: float = 10.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(
        "legacy", BreakerPolicy(failures=failures, cool_down_s=cool_down_s), clock
    ), clock


def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        b.failed(b.admit())


def test_it_opens_after_the_configured_failures_in_a_row_and_refuses_at_once() -> None:
    b, clock = breaker(failures=3, cool_down_s=10)
    fail(b, 2)
    assert b.view().state is BreakerState.CLOSED
    fail(b, 1)
    assert b.view().state is BreakerState.OPEN

    clock.now += 4.2
    with pytest.raises(ErpFailure) as refused:
        b.admit()
    assert refused.value.code is Code.ERP_UNAVAILABLE
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "6"  # what is left of the cool-down, rounded up
    assert refused.value.ambiguous is False  # nothing was sent


def test_a_success_between_failures_starts_the_count_again() -> None:
    b, _ = breaker(failures=3)
    fail(b, 2)
    b.succeeded(b.admit())
    fail(b, 2)
    assert b.view().state is BreakerState.CLOSED
    assert b.view().failures == 2


def test_after_the_cool_down_one_trial_goes_through_and_its_success_closes_it() -> None:
    b, clock = breaker(failures=1, cool_down_s=5)
    fail(b, 1)
    clock.now += 5
    trial = b.admit()
    assert trial is True
    assert b.view().state is BreakerState.HALF_OPEN
    with pytest.raises(ErpFailure):  # only one trial at a time
        b.admit()
    b.succeeded(trial)
    assert b.view().state is BreakerState.CLOSED
    assert b.admit() is False  # closed: ordinary calls again


def test_a_failed_trial_opens_it_for_another_cool_down() -> None:
    b, clock = breaker(failures=1, cool_down_s=5)
    fail(b, 1)
    clock.now += 5
    b.failed(b.admit())
    assert b.view().state is BreakerState.OPEN
    assert b.view().retry_in_s == pytest.approx(5)
    assert b.view().opened == 2


def test_a_trial_the_client_abandoned_lets_the_next_request_be_the_trial() -> None:
    b, clock = breaker(failures=1, cool_down_s=5)
    fail(b, 1)
    clock.now += 5
    b.abandoned(b.admit())
    assert b.admit() is True


def test_calls_that_started_before_it_opened_do_not_count_twice_or_close_it() -> None:
    b, _ = breaker(failures=2)
    early = [b.admit(), b.admit(), b.admit()]
    b.failed(early[0])
    b.failed(early[1])
    assert b.view().state is BreakerState.OPEN
    b.succeeded(early[2])  # a slow call from before: not the trial, not a verdict
    assert b.view().state is BreakerState.OPEN


def test_a_disabled_breaker_never_opens() -> None:
    clock = Clock()
    b = CircuitBreaker("cloud", BreakerPolicy(enabled=False, failures=1), clock)
    fail(b, 50)
    assert b.view().state is BreakerState.CLOSED
    assert b.admit() is False


def test_breakers_are_kept_per_backend_and_take_new_thresholds() -> None:
    breakers = Breakers(Clock())
    first = breakers.for_backend("legacy", BreakerPolicy(failures=5))
    fail(first, 3)
    again = breakers.for_backend("legacy", BreakerPolicy(failures=3, cool_down_s=7))
    assert again is first
    assert again.view().failures == 3  # its count survives the reload
    again.failed(again.admit())
    assert again.view().state is BreakerState.OPEN
    assert [v.backend for v in breakers.views()] == ["legacy"]

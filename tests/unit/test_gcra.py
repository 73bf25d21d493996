"""The GCRA arithmetic on its own: what a client of a {rate, burst} tier experiences, by the clock.

Not the stores: tests/contract/test_store_contract.py checks both apply it the same way.
"""

from __future__ import annotations

import math

import pytest

from gateway.store.gcra import GcraResult, gcra, gcra_refund, given_back

RATE = 20.0  # requests per second: one emission interval is 50 ms
INTERVAL = 1 / RATE
BURST = 5
START = 1000.0


def requests_at(now: float, count: int, tat: float | None = None) -> list[GcraResult]:
    """`count` requests arriving together at `now`, each seeing the TAT the last one left."""
    results = []
    for _ in range(count):
        result = gcra(now, tat, RATE, BURST)
        results.append(result)
        tat = result.tat
    return results


def test_exactly_burst_requests_pass_at_once_and_the_next_is_refused() -> None:
    results = requests_at(START, BURST + 1)
    assert [r.decision.allowed for r in results] == [True] * BURST + [False]


def test_the_refused_request_is_told_to_retry_after_one_emission_interval() -> None:
    refused = requests_at(START, BURST + 1)[-1].decision
    assert refused.retry_after_s == pytest.approx(INTERVAL)
    assert refused.remaining == 0


def test_remaining_counts_down_to_zero_through_the_burst() -> None:
    remaining = [r.decision.remaining for r in requests_at(START, BURST)]
    assert remaining == [4, 3, 2, 1, 0]


def test_reset_after_is_the_time_until_the_bucket_is_full_again() -> None:
    decisions = [r.decision for r in requests_at(START, BURST + 1)]
    assert decisions[0].reset_after_s == pytest.approx(INTERVAL)
    assert decisions[BURST - 1].reset_after_s == pytest.approx(BURST * INTERVAL)
    # A refusal costs nothing, so the bucket still fills at the same moment.
    assert decisions[BURST].reset_after_s == pytest.approx(BURST * INTERVAL)


def test_an_allowed_request_is_not_asked_to_wait() -> None:
    assert all(r.decision.retry_after_s == 0.0 for r in requests_at(START, BURST))


def test_a_refused_request_leaves_the_bucket_unchanged() -> None:
    tat = requests_at(START, BURST)[-1].tat
    assert gcra(START, tat, RATE, BURST).tat == tat


def test_one_request_passes_again_one_interval_after_the_burst_but_not_two() -> None:
    tat = requests_at(START, BURST)[-1].tat
    later = START + INTERVAL * 1.001
    first, second = requests_at(later, 2, tat)
    assert first.decision.allowed
    assert first.decision.remaining == 0
    assert not second.decision.allowed


def test_just_before_one_interval_the_bucket_still_refuses() -> None:
    tat = requests_at(START, BURST)[-1].tat
    early = gcra(START + INTERVAL * 0.5, tat, RATE, BURST).decision
    assert not early.allowed
    assert early.retry_after_s == pytest.approx(INTERVAL * 0.5)


def test_a_bucket_left_idle_is_full_again_after_reset_after() -> None:
    burst = requests_at(START, BURST)
    idle_until = START + burst[-1].decision.reset_after_s
    assert [r.decision.allowed for r in requests_at(idle_until, BURST + 1, burst[-1].tat)] == [
        True
    ] * BURST + [False]


def test_a_stale_tat_far_in_the_past_counts_as_a_full_bucket() -> None:
    decision = gcra(START, START - 3600, RATE, BURST).decision
    assert decision.allowed
    assert decision.remaining == BURST - 1


def test_remaining_survives_float_rounding_of_awkward_rates() -> None:
    # 1/3 s intervals do not add up exactly in binary floating point.
    tat = None
    remaining = []
    for _ in range(3):
        result = gcra(START, tat, 3.0, 3)
        remaining.append(result.decision.remaining)
        tat = result.tat
    assert remaining == [2, 1, 0]


def test_a_zero_rate_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        gcra(START, None, 0.0, BURST)


def test_exactly_burst_requests_pass_at_one_instant_whatever_the_float_rounding() -> None:
    for rate, burst in [(3.0, 3), (7.0, 7), (0.3, 5), (10.0, 100)]:
        tat = None
        passed = 0
        for _ in range(burst + 1):
            result = gcra(1000.0, tat, rate, burst)
            passed += result.decision.allowed
            tat = result.tat
        assert passed == burst, (rate, burst)


@pytest.mark.parametrize("taken", [1, 2, 5])
def test_a_decision_given_back_is_what_the_next_check_after_the_refund_would_say(
    taken: int,
) -> None:
    now, rate, burst = 1000.0, 2.0, 5
    tat = None
    for _ in range(taken):
        result = gcra(now, tat, rate, burst)
        tat = result.tat
    refunded_tat = gcra_refund(now, tat, rate)
    # What the bucket holds once the last request is given back, read by counting one more.
    again = gcra(now, refunded_tat, rate, burst).decision
    standing = given_back(result.decision, rate)
    assert standing.remaining == again.remaining + 1
    assert standing.reset_after_s == pytest.approx(max(0.0, again.reset_after_s - 1 / rate))


# Redis's clock (TIME) is seconds since 1970: at that size a float steps by 2**-22 s (0.24 µs),
# so `now + interval - now` is not exactly the interval of a rate such as 0.7/s.
EPOCH_NOW = 1_780_000_000.123456


@pytest.mark.parametrize("rate", [0.7, 1.5, 6.0, 3.0, 7.0])
def test_a_full_buckets_first_request_leaves_the_rest_of_the_burst_on_an_epoch_clock(
    rate: float,
) -> None:
    decision = gcra(EPOCH_NOW, None, rate, 3).decision
    assert decision.remaining == 2
    # Given back (a shed 503), the bucket is full again: all three, nothing to wait for.
    standing = given_back(decision, rate)
    assert (standing.remaining, math.ceil(standing.reset_after_s)) == (3, 0)

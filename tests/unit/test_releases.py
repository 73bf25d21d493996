"""Pending releases: given back with the next admission, or by a timer when none comes."""

from __future__ import annotations

import asyncio
from typing import cast

from gateway.pipeline.releases import PendingReleases
from gateway.store.base import BucketRequest, GiveBack, SlotRequest, Store

DELAY_S = 0.01
SLOT = SlotRequest("erp:cloud:in-flight", 4, "t1", 5.0)


class _GivenBack:
    """A store that notes what the timer gives back."""

    def __init__(self) -> None:
        self.given: list[GiveBack] = []

    async def give_back(self, back: GiveBack) -> None:
        self.given.append(back)


async def test_the_timer_gives_back_what_no_admission_took() -> None:
    store = _GivenBack()
    releases = PendingReleases(cast(Store, store), delay_s=DELAY_S)
    releases.add(SLOT, [])
    await asyncio.sleep(DELAY_S * 5)
    assert [back.slots for back in store.given] == [[SLOT]]
    await releases.aclose()


async def test_what_an_admission_took_is_not_given_back_again_by_the_timer() -> None:
    store = _GivenBack()
    releases = PendingReleases(cast(Store, store), delay_s=DELAY_S)
    releases.add(SLOT, [])
    assert releases.take().slots == [SLOT]  # sent with an admission
    await asyncio.sleep(DELAY_S * 5)  # the timer set by add runs out with nothing to send
    assert store.given == []
    later = SlotRequest("erp:cloud:in-flight", 4, "t2", 5.0)
    releases.add(later, [])  # the next one sets a timer again
    await asyncio.sleep(DELAY_S * 5)
    assert [back.slots for back in store.given] == [[later]]
    await releases.aclose()


async def test_after_a_failed_round_trip_slots_are_sent_again_and_refunds_never_twice() -> None:
    # The round trip that carried them may have reached the store before it failed (its reply
    # came too late): a second release of a slot is harmless, a second refund is not.
    store = _GivenBack()
    releases = PendingReleases(cast(Store, store), delay_s=DELAY_S)
    refund = BucketRequest("erp:cloud:rps", 100.0, 10)
    releases.add(SLOT, [refund])
    back = releases.take()  # sent with an admission, whose round trip fails
    releases.restore(back)
    await asyncio.sleep(DELAY_S * 5)
    assert [(list(b.slots), list(b.refunds)) for b in store.given] == [([SLOT], [])]
    await releases.aclose()


class _Unanswered:
    """A store whose give-back round trip never gets its reply."""

    async def give_back(self, back: GiveBack) -> None:
        await asyncio.Event().wait()


async def test_a_give_back_cut_short_still_counts_as_not_given_back() -> None:
    # The forced stop's write-out (`Runtime.write_out`) cancels a round trip at its bound and
    # says what is pending: a slot sent but never answered may not have been released.
    releases = PendingReleases(cast(Store, _Unanswered()), delay_s=DELAY_S)
    releases.add(SLOT, [BucketRequest("erp:cloud:rps", 100.0, 10)])
    closing = asyncio.create_task(releases.aclose())
    done, _ = await asyncio.wait([closing], timeout=DELAY_S * 5)
    assert not done  # its round trip awaits the reply
    assert releases.pending == 2
    closing.cancel()
    await asyncio.gather(closing, return_exceptions=True)
    assert releases.pending == 2  # unanswered when cancelled: not known released

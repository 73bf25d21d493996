"""The authenticator's verdicts on tokens (verified until `exp`, refused a few seconds): held by
digest until their deadline, and bounded, the least recently used forgotten first."""

from __future__ import annotations

from gateway.pipeline.token_verdicts import TokenVerdicts, token_digest
from tests.conftest import ManualClock


async def test_a_verdict_is_held_until_its_deadline_and_not_after() -> None:
    clock = ManualClock()
    verdicts: TokenVerdicts[str] = TokenVerdicts(capacity=4, clock=clock)
    verdicts.hold(b"a", "verified", until=clock() + 5)
    held = verdicts.get(b"a")
    await clock.advance(5)
    assert (held, verdicts.get(b"a"), len(verdicts)) == ("verified", None, 0)


def test_a_verdict_already_past_its_deadline_is_not_held() -> None:
    clock = ManualClock()
    verdicts: TokenVerdicts[str] = TokenVerdicts(capacity=4, clock=clock)
    verdicts.hold(b"a", "expired already", until=clock())
    assert len(verdicts) == 0


def test_a_flood_of_tokens_is_bounded_the_least_recently_used_forgotten() -> None:
    clock = ManualClock()
    verdicts: TokenVerdicts[str] = TokenVerdicts(capacity=3, clock=clock)
    for token in ["t1", "t2", "t3"]:
        verdicts.hold(token_digest(token), token, until=clock() + 60)
    assert verdicts.get(token_digest("t1")) == "t1"  # used again: t2 is now the least recent
    verdicts.hold(token_digest("t4"), "t4", until=clock() + 60)

    assert len(verdicts) == 3
    assert [verdicts.get(token_digest(t)) for t in ["t1", "t2", "t3", "t4"]] == [
        "t1",
        None,
        "t3",
        "t4",
    ]

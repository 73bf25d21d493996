"""What counts as Redis being unavailable (503 store_unavailable) rather than a bug: error
replies as redis-py turns them into exceptions."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import ResponseError

from gateway.store import redis_errors
from gateway.store.base import StoreUnavailable
from gateway.store.redis_errors import unavailable_as_problem


@pytest.mark.parametrize(
    "reply",
    [
        # A script past its time limit: redis-py makes it a plain ResponseError (it was a 500,
        # with the request's slot taken).
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "OOM command not allowed when used memory > 'maxmemory'.",  # full, under noeviction
        "LOADING Redis is loading the dataset in memory",
    ],
)
def test_a_redis_refusing_commands_for_now_is_unavailable(reply: str) -> None:
    with pytest.raises(StoreUnavailable), unavailable_as_problem():
        raise BaseParser.parse_error(reply)


def test_any_other_error_reply_is_left_as_it_is() -> None:
    error = BaseParser.parse_error("ERR Error running script: attempt to compare nil with number")
    with pytest.raises(ResponseError), unavailable_as_problem():
        raise error


@pytest.mark.parametrize(
    ("reply", "told"),
    [
        # GATEWAY_REDIS_URL naming a database the Redis has not (16 by default): every
        # connection's SELECT is refused, and every request was a 500.
        ("ERR DB index is out of range", "database"),
        # The URL's user without the right to a command or key under Redis's ACL.
        ("NOPERM User gw has no permissions to run the 'xadd' command", "ACL"),
        ("NOPERM No permissions to access a key", "ACL"),
        # A wrong password or user in the URL, or none where Redis asks for one.
        ("WRONGPASS invalid username-password pair or user is disabled.", "password"),
        ("NOAUTH Authentication required.", "password"),
        # The URL pointing at a replica.
        ("READONLY You can't write against a read only replica.", "replica"),
        # A snapshot that failed under `stop-writes-on-bgsave-error`.
        ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable", "disk"),
    ],
)
def test_redis_refusing_the_gateway_as_configured_is_unavailable_and_says_why_once(
    reply: str, told: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_errors, "_told", set())  # what this process has told so far
    for _ in range(3):  # every request meets it: the log says it once
        with pytest.raises(StoreUnavailable), unavailable_as_problem():
            raise BaseParser.parse_error(reply)
    lines = [r for r in caplog.records if r.name == "gateway.store"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    message = lines[0].getMessage()
    assert told in message
    assert str(BaseParser.parse_error(reply)) in message  # Redis's own words, as it said them


def test_an_acl_refusal_in_a_script_is_unavailable_but_a_script_bug_is_not() -> None:
    # Redis 7 passes a refused redis.call's reply on as it is: the ACL, not the script.
    with pytest.raises(StoreUnavailable), unavailable_as_problem():
        raise BaseParser.parse_error("NOPERM User gw has no permissions to run the 'eval' command")
    with pytest.raises(ResponseError), unavailable_as_problem():
        raise BaseParser.parse_error(
            "ERR user_script:3: Script attempted to access nonexistent global variable 'x'"
        )

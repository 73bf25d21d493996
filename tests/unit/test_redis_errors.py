"""What counts as Redis being unavailable (503 store_unavailable) rather than a bug: error
replies as redis-py turns them into exceptions."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import ResponseError

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

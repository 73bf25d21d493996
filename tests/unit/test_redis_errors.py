"""What counts as Redis being unavailable (503 store_unavailable) rather than a bug."""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from gateway.store.base import StoreUnavailable
from gateway.store.redis_errors import unavailable_as_problem


def test_redis_busy_with_a_long_script_is_unavailable_for_now() -> None:
    # redis-py reports -BUSY as a plain ResponseError: it was a 500, with the slot taken.
    with pytest.raises(StoreUnavailable), unavailable_as_problem():
        raise ResponseError("BUSY Redis is busy running a script. You can only call ...")


def test_any_other_error_reply_is_left_as_it_is() -> None:
    with pytest.raises(ResponseError), unavailable_as_problem():
        raise ResponseError("ERR Error running script: attempt to compare nil with number")

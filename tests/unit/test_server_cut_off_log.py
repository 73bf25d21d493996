"""What the drain's cut-off keeps out of the log: uvicorn's "Exception in ASGI application"
traceback of a request it cancelled, said already by the stop line; and nothing else."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.server import _CutOffTracebacks


def _logged_in_task(cut: bool, raised: BaseException) -> bool:
    """Whether the filter lets through uvicorn's record of `raised`, logged (as uvicorn logs
    it) in the request's task: one the drain cut off, or another."""

    async def request() -> bool:
        task = asyncio.current_task()
        assert task is not None
        cut_off = _CutOffTracebacks()
        if cut:
            cut_off.add([task])
        logging.getLogger("uvicorn.error").removeFilter(cut_off)  # this test's own, only
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application\n",
            None, (type(raised), raised, None),
        )  # fmt: skip
        return bool(cut_off.filter(record))

    async def main() -> bool:
        return await asyncio.create_task(request())

    return asyncio.run(main())


def test_the_cancellation_of_a_request_the_drain_cut_off_is_not_logged() -> None:
    assert not _logged_in_task(cut=True, raised=asyncio.CancelledError())


@pytest.mark.parametrize(
    ("cut", "raised"),
    [
        (False, asyncio.CancelledError()),  # cancelled by something else than the drain
        (True, RuntimeError("a defect")),  # cut off, but it failed of its own accord first
        (True, KeyError("x")),
    ],
)
def test_any_other_exception_in_the_app_is_logged(cut: bool, raised: BaseException) -> None:
    assert _logged_in_task(cut=cut, raised=raised)

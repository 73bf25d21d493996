"""What the drain's cut-off keeps out of the log: uvicorn's "Exception in ASGI application"
traceback of a request it cancelled, said already by the stop line; and nothing else."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.pipeline.cut_off import mark_cut_off
from gateway.server import _CutOffTracebacks


def _logged_in_task(cut: bool, raised: BaseException | str, drained: bool = False) -> bool:
    """Whether the filter lets through uvicorn's record of `raised`, logged (as uvicorn logs
    it) in the request's task: one the drain cut off (`drained`), or the event loop's end
    (told to quit at once), or another. A text: the lifespan's failed shutdown, which
    Starlette reports with its traceback as the message."""

    async def request() -> bool:
        task = asyncio.current_task()
        assert task is not None
        cut_off = _CutOffTracebacks()
        if cut and drained:
            mark_cut_off([task])  # as the drain marks what it cuts off, for the app to answer
        elif cut:
            cut_off.add([task])
        logging.getLogger("uvicorn.error").removeFilter(cut_off)  # this test's own, only
        if isinstance(raised, str):
            message, exc_info = raised, None
        else:
            message, exc_info = "Exception in ASGI application\n", (type(raised), raised, None)
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, message, None, exc_info
        )
        return bool(cut_off.filter(record))

    async def main() -> bool:
        return await asyncio.create_task(request())

    return asyncio.run(main())


LIFESPAN_CANCELLED = (
    "Traceback (most recent call last):\n  File ..., in lifespan\n    await receive()\n"
    "asyncio.exceptions.CancelledError\n"
)


def test_the_cancellation_of_a_request_the_drain_cut_off_is_not_logged() -> None:
    # Its answer had begun (else the app answers it 503, and nothing is raised to uvicorn).
    assert not _logged_in_task(cut=True, raised=asyncio.CancelledError(), drained=True)


def test_the_cancellation_of_a_request_a_forced_exit_left_is_not_logged() -> None:
    assert not _logged_in_task(cut=True, raised=asyncio.CancelledError())


def test_the_cancellation_of_the_lifespan_a_forced_exit_left_is_not_logged() -> None:
    assert not _logged_in_task(cut=True, raised=LIFESPAN_CANCELLED)


@pytest.mark.parametrize(
    ("cut", "raised"),
    [
        (False, asyncio.CancelledError()),  # cancelled by something else than the drain
        (True, RuntimeError("a defect")),  # cut off, but it failed of its own accord first
        (True, KeyError("x")),
        (False, LIFESPAN_CANCELLED),
        (True, "Traceback (most recent call last):\n...\nRuntimeError: the app's shutdown\n"),
    ],
)
def test_any_other_exception_in_the_app_is_logged(cut: bool, raised: BaseException | str) -> None:
    assert _logged_in_task(cut=cut, raised=raised)

"""Composition of pipeline steps around an operation's handler, done once at start-up.

Not the steps themselves; only the `Step` and `Handler` shapes and how they nest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from starlette.responses import Response

if TYPE_CHECKING:
    from gateway.pipeline.context import RequestContext
    from gateway.pipeline.operation import OperationSpec

Handler = Callable[["RequestContext"], Awaitable[Response]]


class Step(Protocol):
    """One layer: sees the request on its way in, may see the response on its way out. A step
    with nothing to do on the way out (a check, a field set) is a plain call that hands back
    `call_next(ctx)` itself: no coroutine of its own for the request to create and for every
    resumption to pass through."""

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]: ...


def _bind(step: Step, call_next: Handler) -> Handler:
    # A plain function handing back the step's own coroutine: one coroutine per step and
    # request, not two, and half as deep a chain for every resumption to pass through. It
    # calls the step's bound `__call__`, taken once here: calling the step object itself
    # looks the method up and binds it again on every request.
    call = step.__call__

    def run(ctx: RequestContext) -> Awaitable[Response]:
        return call(ctx, call_next)

    return run


def compose(steps: Sequence[Step], handler: Handler, spec: OperationSpec) -> Handler:
    """The handler of one operation (`spec`) wrapped in `steps`, the first step outermost,
    without the steps that say they have nothing to do for it (an `applies(spec)` that is
    false), so that its requests do not pass through them."""
    composed = handler
    for step in reversed(steps):
        applies = getattr(step, "applies", None)
        if applies is None or applies(spec):
            composed = _bind(step, composed)
    return composed

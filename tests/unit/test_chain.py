"""How the pipeline's steps are composed around a handler (`gateway.pipeline.chain`): in
order, and for one operation without the steps that have nothing to do for it."""

from __future__ import annotations

from typing import Any, cast

from starlette.responses import Response

from gateway.api.endpoints import ENDPOINTS
from gateway.domain.operations import Operation
from gateway.pipeline.body import ParseBody
from gateway.pipeline.chain import Handler, Step, compose
from gateway.pipeline.journal import Journal
from gateway.pipeline.operation import OperationSpec


class Seen:
    """A step that notes its name on the way in."""

    def __init__(self, name: str, passed: list[str], applies_to: set[Operation] | None = None):
        self.name = name
        self._passed = passed
        if applies_to is not None:
            self.applies = lambda spec: spec.operation in applies_to

    async def __call__(self, ctx: Any, call_next: Handler) -> Response:
        self._passed.append(self.name)
        return await call_next(ctx)


def spec_of(method: str, path: str) -> OperationSpec:
    return next(e.spec for e in ENDPOINTS if (e.method, e.path) == (method, path))


READ = ("GET", "/sales-orders/{id}")
CREATE = ("POST", "/sales-orders")


async def handler(_: Any) -> Response:
    return Response(status_code=204)


async def test_steps_run_in_order_and_those_that_do_not_apply_are_left_out() -> None:
    passed: list[str] = []
    steps = cast(
        list[Step],
        [
            Seen("first", passed),
            Seen("writes only", passed, {Operation.SALES_ORDERS_CREATE}),
            Seen("last", passed),
        ],
    )
    read = compose(steps, handler, spec_of(*READ))
    assert (await read(cast(Any, None))).status_code == 204
    assert passed == ["first", "last"]
    passed.clear()
    await compose(steps, handler, spec_of(*CREATE))(cast(Any, None))
    assert passed == ["first", "writes only", "last"]


def test_the_journal_and_the_body_step_say_which_operations_they_serve() -> None:
    get, create = spec_of(*READ), spec_of(*CREATE)
    assert not Journal.applies(get) and Journal.applies(create)
    assert not ParseBody.applies(get) and ParseBody.applies(create)

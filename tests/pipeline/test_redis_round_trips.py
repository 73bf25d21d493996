"""How many Redis round trips (and commands) a read and a create send through the whole
pipeline on the RedisStore, counted where they leave the process: the shared connection of
the request path's batches, and redis-py's connections for everything else.

Not a benchmark (see `bench/`): nothing is timed; a count that rises fails CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from gateway.pipeline.releases import PendingReleases
from gateway.store.buffered import BufferedWriter
from gateway.store.redis import CONNECT_TIMEOUT_S, SOCKET_TIMEOUT_S, RedisStore
from gateway.store.redis_wire import Address, Command, SharedConnection
from tests.conftest import delete_keys, redis_url, unique_prefix
from tests.e2e import payloads
from tests.harness import in_process_gateway

pytestmark = pytest.mark.redis


@dataclass(frozen=True)
class Cost:
    round_trips: int  # what the gateway sends and then waits for: one command, or one pipeline
    commands: int


READ = "read a sales order"
CREATE = "create a sales order"
# Today's cost on the request path, as measured (the journal's and the audit trail's writes go
# later, batched, from their own task, and are not counted here). A read of a record this
# process has seen: admission (the client's and the backend's rate limits, the ERP slot) and
# the order's xref, fresh, in one pipeline; its slot goes back with the next admission. A
# create: admission with the idempotency claim (marked forwarded to the routed ERP by the same
# script) and the customer's xref; then the new order's xref and the stored outcome, bound
# and completed, and the slot released, by one script. A rise is a regression and fails CI.
EXPECTED = {
    READ: Cost(round_trips=1, commands=4),
    CREATE: Cost(round_trips=2, commands=6),
}
# The tasks the buffered journal and audit writers flush from, and the timer's flush of
# pending releases (a read's slot goes back with the next admission, or then): off the
# request path.
BACKGROUND = {BufferedWriter._run.__qualname__, PendingReleases.flush.__qualname__}


@dataclass(frozen=True)
class RoundTrip:
    commands: tuple[str, ...]  # each command's name and first key, as sent
    task: str  # the qualified name of the coroutine of the task that sent it

    @property
    def on_request_path(self) -> bool:
        return self.task not in BACKGROUND


class CountingConnection(Connection):
    """A redis-py connection that logs each round trip it sends in `sent`, except the
    handshake of a new connection (HELLO, CLIENT SETINFO, SELECT)."""

    def __init__(self, *, sent: list[RoundTrip], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sent = sent
        self._packed: list[str] = []
        self._handshake = False

    def pack_command(self, *args: Any) -> Any:
        # Called once for a single command, and once per command of a pipeline.
        self._packed.append(" ".join(_text(arg) for arg in args[:2]))
        return super().pack_command(*args)

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        self._handshake = True
        try:
            await super().on_connect_check_health(check_health)
        finally:
            self._handshake = False

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        packed, self._packed = self._packed, []
        if not self._handshake:
            task = asyncio.current_task()
            coroutine = task.get_coro() if task is not None else None
            name = getattr(coroutine, "__qualname__", "?")
            self._sent.append(RoundTrip(tuple(packed), name))
        await super().send_packed_command(command, check_health)


class CountingSharedConnection(SharedConnection):
    """The request path's shared connection, logging each pipeline it sends in `sent`."""

    def __init__(self, url: str, sent: list[RoundTrip]) -> None:
        address = Address.from_url(url)
        super().__init__(address, connect_timeout_s=CONNECT_TIMEOUT_S, timeout_s=SOCKET_TIMEOUT_S)
        self._sent = sent

    async def execute(self, commands: list[Command]) -> list[Any]:
        task = asyncio.current_task()
        coroutine = task.get_coro() if task is not None else None
        name = getattr(coroutine, "__qualname__", "?")
        packed = tuple(" ".join(_text(arg) for arg in command[:2]) for command in commands)
        self._sent.append(RoundTrip(packed, name))
        return await super().execute(commands)


def _text(arg: Any) -> str:
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)


@contextlib.asynccontextmanager
async def counted_redis_store() -> AsyncIterator[tuple[RedisStore, list[RoundTrip]]]:
    """A RedisStore on the test Redis, under a fresh prefix, whose round trips are logged."""
    url = redis_url()
    prefix = unique_prefix()
    sent: list[RoundTrip] = []
    pool = aioredis.BlockingConnectionPool.from_url(
        url, connection_class=CountingConnection, sent=sent
    )
    shared = CountingSharedConnection(url, sent)
    store = RedisStore(aioredis.Redis.from_pool(pool), prefix, shared)
    try:
        yield store, sent
    finally:
        await store.aclose()
        await delete_keys(url, prefix)


def _cost(sent: list[RoundTrip]) -> Cost:
    on_path = [trip for trip in sent if trip.on_request_path]
    return Cost(len(on_path), sum(len(trip.commands) for trip in on_path))


async def _created(response: Awaitable[httpx.Response]) -> dict[str, Any]:
    answer = await response
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.parametrize("operation", [READ, CREATE])
async def test_an_operation_sends_the_counted_redis_round_trips_and_commands_no_more(
    operation: str,
) -> None:
    async with (
        counted_redis_store() as (store, sent),
        in_process_gateway(store) as gw,
        gw.client() as api,
    ):
        customer = await _created(api.post("/v1/customers", json=payloads.customer("US01")))
        body = payloads.order("US01", customer["id"])

        def create() -> Awaitable[httpx.Response]:
            return api.post(
                "/v1/sales-orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            )

        # Once each first: the scripts are loaded and a connection is open before counting.
        order = await _created(create())
        assert (await api.get(f"/v1/sales-orders/{order['id']}")).status_code == 200
        send: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
            READ: lambda: api.get(f"/v1/sales-orders/{order['id']}"),
            CREATE: create,
        }
        await gw.runtime.releases.flush()  # the warm-up's releases: not this request's
        sent.clear()
        response = await send[operation]()
        assert response.status_code in (200, 201), response.text
        on_path = [trip.commands for trip in sent if trip.on_request_path]
        assert _cost(sent) == EXPECTED[operation], on_path

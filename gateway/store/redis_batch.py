"""One pipeline of commands and Lua scripts, sent in one round trip to a Redis or a Redis
Cluster (redis-py's cluster pipeline splits it by node and sends to each at once).

Scripts go by their SHA (EVALSHA), never their source: a script the server lost (a restart, a
SCRIPT FLUSH, a node that joined the cluster) is loaded and only the commands that failed for
it are sent again, so that a script that did run is never run twice. Those then run after the
batch's other commands, not in their place: callers load their scripts up front so that this
happens only after a server lost them.

Not the scripts themselves (see `gateway.store.redis`, `journal.py`, `audit.py`), nor the
connection a pipeline goes on (`Pipelines`: redis-py's, or `redis_wire.SharedConnection`).
"""

from __future__ import annotations

from typing import Any, Protocol

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from gateway.store.redis_errors import unavailable_as_problem

ScriptSource = str | bytes | memoryview  # a script's Lua source, as redis-py keeps it


class Pipelines(Protocol):
    """Where a batch is sent: each command's reply in order, a server error as its exception
    (a redis-py pipeline run with `raise_on_error=False`)."""

    async def execute(self, commands: list[tuple[Any, ...]]) -> list[Any]: ...

    async def load_script(self, source: ScriptSource) -> None: ...

    async def aclose(self) -> None: ...


class RedisPyPipelines:
    """Batches through a redis-py client's pipelines: for a Redis Cluster (its pipeline
    splits a batch by node and sends to each at once) and TLS."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        # No MULTI: each script is atomic on its own, and their keys may live in different slots.
        pipe = self._client.pipeline(transaction=False)
        for args in commands:
            pipe.execute_command(*args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies

    async def load_script(self, source: ScriptSource) -> None:
        await self._client.script_load(source)

    async def aclose(self) -> None:
        """Nothing of its own: the client is its owner's to close."""


class Batch:
    """The commands of one pipeline, in order; `send` returns their replies in that order."""

    def __init__(self) -> None:
        self._commands: list[tuple[AsyncScript | None, tuple[Any, ...]]] = []

    def script(self, script: AsyncScript, keys: list[str], args: list[Any]) -> None:
        self._commands.append((script, ("EVALSHA", script.sha, len(keys), *keys, *args)))

    def command(self, *args: Any) -> None:
        self._commands.append((None, args))

    def __len__(self) -> int:
        return len(self._commands)

    async def send(self, pipelines: Pipelines) -> list[Any]:
        """Every command's reply; a server error other than a lost script raises (as
        `StoreUnavailable` when Redis is unreachable)."""
        if not self._commands:
            return []
        with unavailable_as_problem():
            replies = await pipelines.execute([args for _, args in self._commands])
            lost = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if lost:
                scripts = {id(s): s for i in lost if (s := self._commands[i][0]) is not None}
                for script in scripts.values():
                    await pipelines.load_script(script.script)
                again = await pipelines.execute([self._commands[i][1] for i in lost])
                for i, reply in zip(lost, again, strict=True):
                    replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                with unavailable_as_problem():
                    raise reply
        return replies


async def run_script(
    pipelines: Pipelines, script: AsyncScript, keys: list[str], args: list[Any]
) -> Any:
    """One script's reply, sent as a batch of one (a lost script loaded and run again)."""
    batch = Batch()
    batch.script(script, keys, args)
    (reply,) = await batch.send(pipelines)
    return reply

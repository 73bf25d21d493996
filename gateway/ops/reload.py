"""Configuration reload: on file change, SIGHUP or the admin endpoint, swapped atomically, in
each process (with several workers, in each worker, asked through their supervisor).

Not loading itself (see `gateway.configuration`). A bad file is rejected and reported; the
running configuration stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.adapters.base import ErpAdapter
from gateway.config.backends import signing_key_file
from gateway.config.issues import (
    BACKENDS_DIR,
    OPTIONAL_FILES,
    POLICIES_DIR,
    ROUTES_FILE,
    ConfigError,
    ConfigIssue,
    yaml_files,
)
from gateway.config.loader import GatewayConfig
from gateway.configuration import load
from gateway.observability.metrics import RELOADS
from gateway.runtime import Runtime, build_runtime

log = logging.getLogger("gateway.reload")
# The watcher's look at the files; a change is loaded once two looks in a row agree on it
# (a file still being written is not), so an edited file is serving within 2 s.
POLL_INTERVAL_S = 0.5
# Set by the supervisor of `gateway serve --workers N` to its pid, for its workers.
SUPERVISOR_ENV = "GATEWAY_SUPERVISOR_PID"


@dataclass
class ReloadStatus:
    generation: int = 1
    loaded_at: float = field(default_factory=time.time)
    last_error: list[ConfigIssue] = field(default_factory=list)
    last_attempt_at: float | None = None


_Signatures = dict[str, tuple[int, int, int]]


def _config_files(config_dir: Path) -> _Signatures:
    """Each config file's modification time, size and inode change time, in nanoseconds: a
    file finished within the same clock tick as the half of it the watcher saw still differs
    (its size, its change time)."""
    files: _Signatures = {}
    for path in [
        config_dir / ROUTES_FILE,
        *yaml_files(config_dir / BACKENDS_DIR),
        *yaml_files(config_dir / POLICIES_DIR),
    ]:
        with contextlib.suppress(OSError):
            stat = path.stat()
            files[str(path)] = (stat.st_mtime_ns, stat.st_size, stat.st_ctime_ns)
    return files


def _unchanged(name: str, old: GatewayConfig, new: GatewayConfig) -> bool:
    """Whether a backend's adapter may be kept: its file, its budget (its retries spend it)
    and the key file it signs with (read when the adapter is built) are the same."""
    key_file = signing_key_file(new.backends.get(name))
    return (
        old.backends.get(name) == new.backends.get(name)
        and old.rate_limits.backends.get(name) == new.rate_limits.backends.get(name)
        and (key_file is None or old.key_digests.get(key_file) == new.key_digests.get(key_file))
    )


@dataclass(frozen=True)
class FileChanges:
    """The files whose content differs between two configurations (YAML and key files), by
    their names in the config directory, each list sorted."""

    changed: list[str]
    added: list[str]
    removed: list[str]

    def __str__(self) -> str:
        said = [
            f"{what} {', '.join(files)}"
            for what, files in (
                ("changed", self.changed),
                ("added", self.added),
                ("removed", self.removed),
            )
            if files
        ]
        return "; ".join(said) or "no file changed"


def file_changes(old: GatewayConfig, new: GatewayConfig) -> FileChanges:
    """What `new`'s files are, next to `old`'s."""
    before = {**old.file_digests, **old.key_digests}
    after = {**new.file_digests, **new.key_digests}
    return FileChanges(
        changed=sorted(f for f in before.keys() & after.keys() if before[f] != after[f]),
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
    )


class Reloader:
    """Owns the app's runtime swaps. Adapters of unchanged backends are kept warm.

    `current` gives the runtime being served; `install` serves a new one from the next request.
    """

    def __init__(
        self,
        config_dir: Path,
        *,
        current: Callable[[], Runtime],
        install: Callable[[Runtime], None],
    ) -> None:
        self._current = current
        self._install = install
        self._config_dir = config_dir
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Future[object]] = set()  # held: not garbage-collected mid-way
        self._retired: list[ErpAdapter] = []  # replaced by a reload, not closed yet
        self._seen = _config_files(config_dir)
        self._settling: _Signatures | None = None  # a change seen once, not yet twice
        self._refused: str | None = None  # the version of the files last refused, if known
        self.status = ReloadStatus()

    async def reload(
        self, trigger: str = "admin", client_ip: str | None = None
    ) -> list[ConfigIssue]:
        """Load, compile and swap in the configuration, whatever it is (an operator asked);
        the issues if it was refused. Either way it is audited, with `trigger` (who asked)
        and `client_ip` (from where, for an operator's request)."""
        return await self._reload(trigger, always=True, client_ip=client_ip)

    async def reload_if_changed(self, trigger: str) -> list[ConfigIssue]:
        """As `reload`, unless the files are the version served or the one last refused: then
        nothing is done, audited or counted (the issues of that refusal are returned). With
        several workers, each is signalled for every reload, the one that already did it too."""
        return await self._reload(trigger, always=False)

    async def _reload(
        self, trigger: str, *, always: bool, client_ip: str | None = None
    ) -> list[ConfigIssue]:
        async with self._lock:
            current = self._current()
            tried: str | None = None  # the version of the files read, once known
            try:
                # The files as they were before they were read: one edited while they load
                # is still news to the watcher once this configuration is serving.
                seen, config = await asyncio.to_thread(self._snapshot_and_load, current.env)
                tried = config.version
                if not always and tried == current.config.version:
                    self._seen = seen
                    self._refused = None
                    self.status.last_error = []  # the files are the running configuration
                    log.info("config unchanged", extra={"trigger": trigger, "version": tried})
                    return []
                self.status.last_attempt_at = time.time()
                keep = {
                    name: backend.adapter
                    for name, backend in current.backends.items()
                    if _unchanged(name, current.config, config)
                }
                runtime = build_runtime(config, current.store, current.env, keep, current)
            except ConfigError as exc:
                return self._refuse(trigger, exc.errors, tried or exc.version, always, client_ip)
            except (ValueError, OSError) as exc:
                issue = ConfigIssue(file=".", line=None, message=str(exc))
                return self._refuse(trigger, [issue], tried, always, client_ip)
            except Exception as exc:  # a defect in the loader: refused all the same, and said
                log.exception("config reload failed")
                issue = ConfigIssue(file=".", line=None, message=f"the reload failed: {exc!r}")
                return self._refuse(trigger, [issue], None, always, client_ip)
            self._install(runtime)
            replaced = [
                b.adapter for name, b in current.backends.items() if keep.get(name) is not b.adapter
            ]
            if replaced:
                # Requests that started on the old runtime may still be talking to these ERPs:
                # close the replaced pools once the longest such request must have ended.
                self._retired += replaced
                self._hold(self._close_later(replaced, current.request_timeout_s))
            self.status.generation += 1
            self.status.loaded_at = time.time()
            self.status.last_error = []
            self._seen = seen
            self._refused = None
            RELOADS.labels("applied").inc()
            changes = file_changes(current.config, config)
            runtime.audit.record(
                "config.reloaded",
                trigger,
                {"version": config.version, **vars(changes)},
                client_ip,
            )
            log.info(
                "config reloaded: %s",
                changes,
                extra={
                    "generation": self.status.generation,
                    "version": config.version,
                    "trigger": trigger,
                    **vars(changes),
                },
            )
            for file in changes.removed:
                if file in OPTIONAL_FILES:
                    # Deleting an optional file is how it is turned off (the files are the
                    # configuration); loudly, since what it set is gone from every request.
                    log.warning(
                        "%s was removed: its defaults now apply (%s)",
                        file,
                        OPTIONAL_FILES[file],
                        extra={"file": file, "trigger": trigger},
                    )
            return []

    def _refuse(
        self,
        trigger: str,
        issues: list[ConfigIssue],
        version: str | None,
        always: bool,
        client_ip: str | None = None,
    ) -> list[ConfigIssue]:
        """A refused configuration: the running one stays; audited, counted and logged, unless
        these are the files refused last time and nobody asked for them explicitly."""
        if not always and version is not None and version == self._refused:
            return issues
        self.status.last_attempt_at = time.time()
        self.status.last_error = issues
        self._refused = version
        said = [str(i) for i in issues]
        RELOADS.labels("refused").inc()
        current = self._current()
        current.audit.record(
            "config.refused",
            trigger,
            {"running_version": current.config.version, "issues": said},
            client_ip,
        )
        log.error(
            "config reload refused, the running configuration stays: %s",
            "; ".join(said),
            extra={"issues": said, "trigger": trigger},
        )
        return issues

    def _snapshot_and_load(self, env: Mapping[str, str]) -> tuple[_Signatures, GatewayConfig]:
        seen = _config_files(self._config_dir)
        return seen, load(self._config_dir, env, serving=True)

    def _hold(self, work: Coroutine[object, object, object]) -> None:
        """Run `work` as a task this reloader holds until it ends."""
        task: asyncio.Future[object] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_later(self, adapters: list[ErpAdapter], delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._close(adapters)

    async def _close(self, adapters: list[ErpAdapter]) -> None:
        """Close those of `adapters` not closed yet."""
        for adapter in adapters:
            if adapter in self._retired:
                self._retired.remove(adapter)
                await adapter.aclose()

    async def aclose(self) -> None:
        """At shutdown (no request left): the adapters that reloads replaced closed now rather
        than after their delay, and any reload under way (SIGHUP) given up."""
        held = list(self._tasks)
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        await self._close(list(self._retired))

    async def watch(self) -> None:
        """Look at the config files every `POLL_INTERVAL_S` (cheap: a few stat calls)."""
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            await self.look()

    async def look(self) -> None:
        """One look at the files' signatures: a change is reloaded once two looks in a row
        agree on it. A file caught while it is written (an editor's, a deployment tool's) has
        changed again by the next look; loaded at once, a half of it that happened to be valid
        (a clients.yaml cut after some clients) would have served."""
        seen = await asyncio.to_thread(_config_files, self._config_dir)
        if seen == self._seen:
            self._settling = None
            return
        if seen != self._settling:
            self._settling = seen
            return
        self._settling = None
        self._seen = seen
        try:
            await self.reload_if_changed("file change")
        except Exception:  # the watcher goes on: the next edit is looked at too
            log.exception("config reload failed")

    def install_sighup(self) -> None:
        """SIGHUP reloads what changed. With several workers the supervisor sends it to each
        (`gateway.server.Supervisor`), for an operator's SIGHUP or the admin endpoint's."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(
                signal.SIGHUP, lambda: self._hold(self.reload_if_changed("SIGHUP"))
            )


def _supervisor_pid() -> int | None:
    """The pid of the supervisor of this worker of `gateway serve --workers N` (None with one
    worker): named in the environment by the supervisor, and still this process's parent."""
    named = os.environ.get(SUPERVISOR_ENV, "")
    if not named.isdigit() or int(named) != os.getppid():
        return None
    return int(named)


def reload_every_worker() -> bool:
    """Ask the supervisor, if any, to have every worker reload what changed (SIGHUP, which it
    sends on to each); whether there is one. The worker asking has reloaded already: its own
    signal finds nothing new."""
    pid = _supervisor_pid()
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:  # the supervisor is gone: this worker is on its way out too
        return False
    return True

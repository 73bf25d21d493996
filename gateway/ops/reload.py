"""Configuration reload: on file change, SIGHUP or the admin endpoint, swapped atomically.

Not loading itself (see `gateway.configuration`). A bad file is rejected and reported; the
running configuration stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.adapters.base import ErpAdapter
from gateway.config.issues import ConfigError, ConfigIssue
from gateway.config.loader import GatewayConfig
from gateway.configuration import load
from gateway.observability.metrics import RELOADS
from gateway.runtime import Runtime, build_runtime

log = logging.getLogger("gateway.reload")
POLL_INTERVAL_S = 1.0  # an edited file is serving within 2 s


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
    for pattern in ("routes.yaml", "backends/*.yaml", "policies/*.yaml"):
        for path in config_dir.glob(pattern):
            with contextlib.suppress(OSError):
                stat = path.stat()
                files[str(path)] = (stat.st_mtime_ns, stat.st_size, stat.st_ctime_ns)
    return files


def _unchanged(name: str, old: GatewayConfig, new: GatewayConfig) -> bool:
    """Whether a backend's adapter may be kept: its file and its budget (its retries spend
    it) are the same."""
    return old.backends.get(name) == new.backends.get(name) and old.rate_limits.backends.get(
        name
    ) == new.rate_limits.backends.get(name)


async def _close_later(adapters: list[ErpAdapter], delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    for adapter in adapters:
        await adapter.aclose()


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
        self._closing: set[asyncio.Future[None]] = set()
        self._seen = _config_files(config_dir)
        self.status = ReloadStatus()

    async def reload(self, trigger: str = "admin") -> list[ConfigIssue]:
        """Load, compile and swap in the configuration; the issues if it was refused. Either way
        the audit trail records it, with `trigger` (who or what asked)."""
        issues = await self._reload()
        current = self._current()
        if issues:
            RELOADS.labels("refused").inc()
            current.audit.record(
                "config.refused",
                trigger,
                {"running_version": current.config.version, "issues": [str(i) for i in issues]},
            )
        else:
            RELOADS.labels("applied").inc()
            current.audit.record("config.reloaded", trigger, {"version": current.config.version})
        return issues

    async def _reload(self) -> list[ConfigIssue]:
        async with self._lock:
            self.status.last_attempt_at = time.time()
            current = self._current()
            try:
                # The files as they were before they were read: one edited while they load
                # is still news to the watcher once this configuration is serving.
                seen, config = await asyncio.to_thread(self._snapshot_and_load, current.env)
                keep = {
                    name: backend.adapter
                    for name, backend in current.backends.items()
                    if _unchanged(name, current.config, config)
                }
                runtime = build_runtime(config, current.store, current.env, keep, current)
            except ConfigError as exc:
                self.status.last_error = list(exc.issues)
                log.error("config reload refused", extra={"issues": [str(i) for i in exc.issues]})
                return list(exc.issues)
            except (ValueError, OSError) as exc:
                issue = ConfigIssue(file=".", line=None, message=str(exc))
                self.status.last_error = [issue]
                log.error("config reload refused", extra={"issues": [str(issue)]})
                return [issue]
            except Exception as exc:  # a defect in the loader: refused all the same, and said
                log.exception("config reload failed")
                issue = ConfigIssue(file=".", line=None, message=f"the reload failed: {exc!r}")
                self.status.last_error = [issue]
                return [issue]
            self._install(runtime)
            replaced = [
                b.adapter for name, b in current.backends.items() if keep.get(name) is not b.adapter
            ]
            if replaced:
                # Requests that started on the old runtime may still be talking to these ERPs:
                # close the replaced pools once the longest such request must have ended.
                closing = asyncio.ensure_future(_close_later(replaced, current.request_timeout_s))
                self._closing.add(closing)  # held, so the task is not garbage-collected
                closing.add_done_callback(self._closing.discard)
            self.status.generation += 1
            self.status.loaded_at = time.time()
            self.status.last_error = []
            self._seen = seen
            log.info("config reloaded", extra={"generation": self.status.generation})
            return []

    def _snapshot_and_load(self, env: Mapping[str, str]) -> tuple[_Signatures, GatewayConfig]:
        seen = _config_files(self._config_dir)
        return seen, load(self._config_dir, env)

    async def watch(self) -> None:
        """Poll the config files' mtimes; reload when one changes (cheap: a few stat calls)."""
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            seen = await asyncio.to_thread(_config_files, self._config_dir)
            if seen != self._seen:
                self._seen = seen
                try:
                    await self.reload("file change")
                except Exception:  # the watcher goes on: the next edit is looked at too
                    log.exception("config reload failed")

    def install_sighup(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(
                signal.SIGHUP, lambda: asyncio.ensure_future(self.reload("SIGHUP"))
            )

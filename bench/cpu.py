"""CPU time a process spent, with its children (uvicorn's workers, nginx's), read from /proc:
user + system time of each, from /proc/<pid>/stat, between two readings.

Not wall time nor the load generator's (see `bench.wrk`).
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone
        return None
    return text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces


def process_tree(pid: int) -> list[int]:
    """`pid` and every process descended from it, now."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])  # ppid
    tree = [pid]
    for member in tree:
        tree.extend(child for child, parent in parents.items() if parent == member)
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system time the processes spent so far (a process gone since counts nothing)."""
    ticks = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


class CpuMeter:
    """The CPU a process tree spends from `start()` to `stop()` (the tree as it was at start:
    servers under test fork their workers before they answer)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._pids: list[int] = []
        self._started = 0.0

    def start(self) -> None:
        self._pids = process_tree(self._pid)
        self._started = cpu_seconds(self._pids)

    def stop(self) -> float:
        return cpu_seconds(self._pids) - self._started

"""Sampling profiles of a server under load with py-spy (from PyPI, a dev dependency): its
stacks recorded while the load runs, written as a flame graph, summed by own time.

Not the load (see `bench.wrk`) nor the drawing (see `bench.flamegraph`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import flamegraph

RATE_HZ = 100  # samples a second: enough for a top 15 in a few seconds, little overhead
TOP = 15


@dataclass(frozen=True)
class Profile:
    svg: Path
    samples: int
    top: list[tuple[str, int]]  # functions by own samples, most first


def py_spy() -> str | None:
    """py-spy from the bench's venv (beside this Python), or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def profile(
    executable: str, pid: int, seconds: int, load: Callable[[], object], svg: Path, title: str
) -> Profile:
    """Sample `pid` for `seconds` while `load()` runs (for as long), then draw and sum it."""
    raw = svg.with_suffix(".txt")
    recorder = subprocess.Popen(
        [
            executable, "record",
            "--pid", str(pid),
            "--rate", str(RATE_HZ),
            "--duration", str(seconds),
            "--nolineno",  # one frame per function, not per line
            # Only the thread running Python: the log writer threads waiting on their queues
            # would otherwise fill the top of the list without spending any CPU.
            "--gil",
            "--format", "raw",
            "--output", str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        load()
    finally:
        _, errors = recorder.communicate(timeout=seconds + 60)
    if recorder.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed ({recorder.returncode}): {errors.strip()[-500:]}")
    stacks = flamegraph.parse(raw.read_text())
    svg.write_text(flamegraph.svg(stacks, title))
    top, samples = flamegraph.own_time(stacks)
    return Profile(svg, samples, top[:TOP])

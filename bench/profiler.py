"""Sampling profiles of a server under load with py-spy (from PyPI, a dev dependency): its
stacks recorded while the load runs, written as a flame graph, summed by own time and by the
part of the server each sample ran in.

Not the load (see `bench.wrk`) nor the drawing (see `bench.flamegraph`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import flamegraph

RATE_HZ = 100  # samples a second: enough for a top 15 in a few seconds, little overhead
TOP = 15

# The parts of a server a sample is counted in, by where the function running is defined (py-spy
# names a frame "function (path)", the path relative to its import root): the first prefix that
# matches wins. A function of none of them (the standard library's json, base64, hashlib, a
# dataclass's generated `__init__`) counts in the part that called it. The ERP client is
# `AiohttpTransport` over aiohttp, the same in the gateway and the bare proxy.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("HTTP server (uvicorn, httptools)", ("uvicorn/", "httptools/", "gateway/server.py")),
    ("ERP client (aiohttp, AiohttpTransport)", (
        "aiohttp/", "yarl/", "multidict/", "aiohappyeyeballs/", "gateway/adapters/http.py",
    )),
    ("Starlette", ("starlette/",)),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("gateway: ERP mapping (adapters)", ("gateway/adapters/",)),
    ("gateway: pipeline steps", ("gateway/pipeline/",)),
    ("gateway: services and views", ("gateway/service/",)),
    ("gateway: store", ("gateway/store/",)),
    ("gateway: app and handlers", ("gateway/app.py", "gateway/api/")),
    ("gateway: access log, traces, metrics", ("gateway/observability/",)),
    ("gateway: the rest (domain, routing)", ("gateway/",)),
    ("the bare proxy's endpoint", ("bench/",)),
)  # fmt: skip
OTHER = "elsewhere"


@dataclass(frozen=True)
class Profile:
    svg: Path
    samples: int
    top: list[tuple[str, int]]  # functions by own samples, most first
    parts: dict[str, int]  # samples by the part of the server they ran in (see `part_of`)


def _path(frame: str) -> str | None:
    """The file a py-spy frame ("function (path)") names; None for generated code ("<string>")."""
    _, _, path = frame.rpartition(" (")
    path = path.removesuffix(")")
    return None if not path or path.startswith("<") else path


def part_of(frames: tuple[str, ...]) -> str:
    """The part of the server a sampled stack (outermost frame first) ran in: that of its
    innermost frame in one of `PARTS`."""
    for frame in reversed(frames):
        path = _path(frame)
        if path is not None:
            for part, prefixes in PARTS:
                if path.startswith(prefixes):
                    return part
    return OTHER


def parts(stacks: list[flamegraph.Stack]) -> dict[str, int]:
    """Samples by part, most first."""
    counted: Counter[str] = Counter()
    for frames, count in stacks:
        counted[part_of(frames)] += count
    return dict(counted.most_common())


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
    return Profile(svg, samples, top[:TOP], parts(stacks))

"""The load generator: wrk (Debian's package), one thread pinned to one core, with a Lua script
that sends one request shape and reports the run as one JSON line.

Not what is loaded or measured besides the client's view (see `bench.run`, `bench.cpu`).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# In a request body, replaced per request by a reference no other request of the run has: the
# Idempotency-Key, and the external reference the simulator refuses to see twice.
UNIQUE = "@REF@"
RESULT_MARK = "bench-result "
TIMEOUT = "10s"  # a request slower than this counts as a timeout error, not a latency

# One request shape. A body is built per request (fresh key and reference); a GET is formatted
# once by wrk itself, the cheapest way it has.
_SCRIPT = """
local method, path, template = [==[{method}]==], [==[{path}]==], {body}
local headers = {headers}
local prefix, counter = [==[{run}]==], 0

if template ~= nil then
  function request()
    counter = counter + 1
    local ref = prefix .. counter
    headers["Idempotency-Key"] = ref
    return wrk.format(method, path, headers, (string.gsub(template, "{unique}", ref)))
  end
else
  wrk.method, wrk.path = method, path
  for name, value in pairs(headers) do wrk.headers[name] = value end
end

{pace}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


@dataclass(frozen=True)
class Load:
    """What every request of a run is: method, path, headers; a POST's body has UNIQUE in it."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: str | None = None
    delay_ms: float | None = None  # each connection waits this long before each request


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]  # socket errors by kind, and `status`: answers of 400 or more
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def lua_script(load: Load, run: str) -> str:
    """The script for `load`; each thread's references start with `run` (unique to the run)."""
    body = "nil" if load.body is None else f"[==[{load.body}]==]"
    headers = ", ".join(f"[ [==[{k}]==] ] = [==[{v}]==]" for k, v in load.headers.items())
    return _SCRIPT.format(
        method=load.method,
        path=load.path,
        body=body,
        headers="{" + headers + "}",
        run=run,
        pace="" if load.delay_ms is None else f"function delay() return {load.delay_ms:.3f} end",
        unique=UNIQUE,
        mark=RESULT_MARK,
    )


def run_wrk(
    command: Sequence[str],
    url: str,
    script: Path,
    *,
    seconds: int,
    connections: int,
) -> WrkResult:
    """One wrk run of `seconds` at `connections` against `url`. `command` is wrk's path, after
    any pinning (`taskset -c 0 wrk`)."""
    args = [
        *command,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={TIMEOUT}",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(lines[-1][len(RESULT_MARK) :])
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors={k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]},
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        p999_ms=raw["p999_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )

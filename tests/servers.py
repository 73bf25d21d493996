"""Real servers for tests: an ASGI app on a real socket, or a subprocess, on a free port.

Readiness is polled with a deadline; nothing sleeps on a guess.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(url: str, deadline_s: float = 15.0, expect: int | None = None) -> None:
    """Poll `url` until it answers (with `expect` if given) or the deadline passes."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            response = httpx.get(url, timeout=1.0)
            if expect is None or response.status_code == expect:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready within {deadline_s}s (last error: {last})")


@contextlib.contextmanager
def serve_app(app: Any, port: int | None = None, ready_path: str = "/") -> Iterator[str]:
    """Run an ASGI app with uvicorn in a background thread; yield its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > end:
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def run_process(
    args: Sequence[str],
    ready_url: str,
    env: dict[str, str] | None = None,
    deadline_s: float = 20.0,
    expect: int | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a subprocess, wait for `ready_url`, and always stop it (SIGTERM, then SIGKILL)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        list(args), env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        try:
            wait_until_ready(ready_url, deadline_s, expect)
        except TimeoutError:
            proc.kill()
            out = proc.communicate(timeout=5)[0].decode(errors="replace")
            raise RuntimeError(f"{' '.join(args)} did not become ready:\n{out[-4000:]}") from None
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


PYTHON = sys.executable

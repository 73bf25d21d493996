"""Find or start a Redis, then run a command with it: `python -m tests.redis_server CMD...`.

Not a fixture: `RedisProcess` is the importable piece, for tests that stop and start a Redis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType

from tests.servers import free_port

REDIS_URL_ENV = "GATEWAY_TEST_REDIS_URL"
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 6379
LOCAL_TEST_DB = 15
PROBE_TIMEOUT_S = 0.25
START_DEADLINE_S = 10.0
STOP_DEADLINE_S = 5.0
POLL_INTERVAL_S = 0.01
INSTALL_HINT = (
    "redis-server is not installed: the Redis tests will skip. "
    "Install it with `apt-get install redis-server` to run them."
)


def answers_ping(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when a Redis on host:port answers PING (one inline command, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """A private `redis-server` (no persistence) on 127.0.0.1, which can be stopped and
    started again on the same port, e.g. to test what the gateway does during an outage."""

    def __init__(
        self,
        port: int | None = None,
        executable: str = "redis-server",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.port = port or free_port()
        self._executable = executable
        self._extra_args = extra_args
        self._dir = Path(tempfile.mkdtemp(prefix="gateway-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOCAL_HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, deadline_s: float = START_DEADLINE_S) -> None:
        """Start the server and return once it answers PING (or raise with its log)."""
        if self.running:
            return
        log = (self._dir / "redis.log").open("ab")
        args = [
            self._executable,
            "--port", str(self.port),
            "--bind", LOCAL_HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            *self._extra_args,
        ]  # fmt: skip
        with log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + deadline_s
        while not answers_ping(LOCAL_HOST, self.port):
            if self._proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{self.log()}")
            time.sleep(POLL_INTERVAL_S)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until it is gone."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_DEADLINE_S)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def log(self) -> str:
        path = self._dir / "redis.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def __enter__(self) -> RedisProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def redis_server_installed() -> bool:
    return shutil.which("redis-server") is not None


@contextlib.contextmanager
def redis_url_for_tests() -> Iterator[str | None]:
    """The Redis URL for this run (None: no Redis), starting and stopping one if needed.

    In order: GATEWAY_TEST_REDIS_URL if set (empty: no Redis); a Redis answering on
    127.0.0.1:6379, as db 15 so tests never touch db 0; a private `redis-server` on a free port;
    else none, and the Redis tests skip.
    """
    if REDIS_URL_ENV in os.environ:
        if not os.environ[REDIS_URL_ENV]:
            note(f"{REDIS_URL_ENV} is empty: the Redis tests will skip.")
        yield os.environ[REDIS_URL_ENV] or None
        return
    if answers_ping(LOCAL_HOST, LOCAL_PORT):
        yield f"redis://{LOCAL_HOST}:{LOCAL_PORT}/{LOCAL_TEST_DB}"
        return
    if not redis_server_installed():
        note(f"no Redis on {LOCAL_HOST}:{LOCAL_PORT} and {INSTALL_HINT}")
        yield None
        return
    with RedisProcess() as server:
        yield server.url


def note(message: str) -> None:
    print(f"tests.redis_server: {message}", flush=True)


def exit_code(returncode: int) -> int:
    """The child's status as a shell would report it (128 + signal for a killed child)."""
    return 128 - returncode if returncode < 0 else returncode


def run_child(command: list[str], env: dict[str, str]) -> int:
    """Run the command to completion. Ctrl-C reaches the child through the terminal; the
    launcher ignores it so it can still stop its Redis once the child has finished."""
    child = subprocess.Popen(command, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, forward)
    try:
        return exit_code(child.wait())
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def main(argv: list[str]) -> int:
    if not argv:
        print(f"usage: python -m tests.redis_server COMMAND [ARG...]\n{__doc__}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    with redis_url_for_tests() as url:
        if url is None:
            env.pop(REDIS_URL_ENV, None)
        else:
            env[REDIS_URL_ENV] = url
            note(f"Redis tests use {url}")
        return run_child(argv, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

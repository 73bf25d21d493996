"""The tests' own server harness (`tests/servers.run_process`): a server that never becomes
ready is stopped with everything it started, so a loaded run leaves no gateway workers behind
to take ports and CPU from the tests after it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.servers import PYTHON, free_port, run_process

# A "server" that starts a child of its own (as `gateway serve --workers 2` does), says its pid,
# and never listens.
_SPAWNING = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone but for its parent's reaping.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_server_that_never_becomes_ready_is_stopped_with_what_it_started(
    tmp_path: Path,
) -> None:
    said = tmp_path / "child.pid"
    with (
        pytest.raises(RuntimeError, match="did not become ready"),
        run_process(
            [PYTHON, "-c", _SPAWNING, str(said)],
            f"http://127.0.0.1:{free_port()}/readyz",
            deadline_s=3,
        ),
    ):
        pass
    child = int(said.read_text())
    end = time.monotonic() + 5
    while _alive(child) and time.monotonic() < end:
        time.sleep(0.05)
    assert not _alive(child)

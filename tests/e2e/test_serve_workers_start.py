"""`gateway serve --workers 2` on a busy host: a worker that takes longer to start than the
supervisor's health check waits for an answer (uvicorn's 5 s) is not killed as hung while it
imports the gateway, and the next one with it, for ever."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gateway.sockets import SPREAD_BY_KERNEL
from tests.configs import write_config
from tests.redis_server import RedisProcess
from tests.servers import PYTHON, free_port, run_process

# Each worker sleeps this long before Python runs the worker's code, as a host whose CPU is
# shared out makes its imports take; longer than a health-check wait (5 s), from the first
# check (half a second after the start) on, with a margin.
SLOW_START_S = 8
SLOW_START = f"""
import sys, time
if any("spawn_main" in arg for arg in sys.orig_argv):  # a worker, not `gateway serve` itself
    time.sleep({SLOW_START_S})
"""

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not SPREAD_BY_KERNEL,
        reason=f"the kernel spreads connections over workers on Linux only, not {sys.platform}",
    ),
]


def test_workers_slower_to_start_than_the_health_check_are_not_killed(
    gateway_env: dict[str, str], tmp_path: Path, private_redis: RedisProcess
) -> None:
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_START)
    env = {
        **gateway_env,
        "GATEWAY_CONFIG_DIR": str(write_config(tmp_path)),
        "GATEWAY_REDIS_URL": private_redis.url,
        "PYTHONPATH": str(slow),
    }
    port = free_port()
    args = [PYTHON, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "2"]
    url = f"http://127.0.0.1:{port}"
    with run_process(args, url + "/readyz", env=env, expect=200, deadline_s=90) as proc:
        lines = [json.loads(x) for x in proc.output().splitlines() if x.startswith("{")]
    killed = [line["msg"] for line in lines if line["logger"] == "gateway.server"]
    assert killed == [], killed

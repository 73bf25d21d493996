"""`gateway serve --workers N`: a worker that died (uvicorn's supervisor restarts a dead or
unresponsive worker) does not speak in /metrics for ever: its open breaker
(`gateway_breaker_state`, the worst of any live process) is forgotten when the scrape finds
the worker gone, so that the README's alert on a value 2 clears."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

OPEN_THEN_DIE = """
from gateway.service.breaker import CircuitBreaker
from gateway.config.backends import BreakerPolicy
breaker = CircuitBreaker("legacy", BreakerPolicy(failures=1, cool_down_s=30))
breaker.failed(False)  # opens: the gauge is 2 in this worker
import os; os._exit(1)  # the worker dies (crash, OOM kill, health-check kill)
"""

LIVE_WORKER_SCRAPED = """
from gateway.service.breaker import CircuitBreaker
from gateway.config.backends import BreakerPolicy
from gateway.observability.metrics import exposition
CircuitBreaker("legacy", BreakerPolicy(failures=1, cool_down_s=30))  # the restarted worker: closed
print(exposition().decode())
"""


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_dead_workers_open_breaker_does_not_stay_in_the_scrape(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    died = _run(OPEN_THEN_DIE, env)
    assert died.returncode == 1, died.stderr
    scraped = _run(LIVE_WORKER_SCRAPED, env)
    assert scraped.returncode == 0, scraped.stderr
    (value,) = re.findall(
        r'^gateway_breaker_state\{backend="legacy"\} (\S+)$', scraped.stdout, re.M
    )
    # Every live process's breaker is closed.
    assert float(value) == 0.0

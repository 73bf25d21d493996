"""`gateway serve` and `gateway demo` as a person runs them: what a mistake in the
environment looks like (one or two lines, never a traceback, never a gateway that neither
serves nor stops)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.servers import PYTHON, free_port, run_process
from tests.unit.test_cli import PRESENT, REPO, _env, _gateway, _short_failure

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _three_ports() -> list[str]:
    """Three different free ports: the kernel may hand the same one out twice in a row, and
    `gateway demo` refuses one port for two servers before it looks at anything else."""
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    return [str(port) for port in ports]


@pytest.mark.parametrize("level", ["verbose", "info-ish"])
def test_serve_with_a_log_level_it_does_not_know_is_two_lines_not_a_traceback(
    level: str,
    repo_config: Path,
) -> None:
    """A GATEWAY_LOG_LEVEL that is no level is said in two lines before anything starts (it
    was read in the app factory, inside uvicorn: a traceback after the banner). `debug`, as
    most tools write it, is a level (see test_log_levels_are_taken_in_any_case)."""
    result = _gateway(
        "serve", "--config-dir", str(repo_config), "--port", str(free_port()),
        env=_env(GATEWAY_LOG_LEVEL=level, **PRESENT),
    )  # fmt: skip
    lines = _short_failure(result)
    assert "GATEWAY_LOG_LEVEL" in result.stderr, lines


def test_demo_with_a_log_level_it_does_not_know_is_two_lines_not_a_traceback(
    repo_config: Path,
) -> None:
    ports = _three_ports()
    result = _gateway(
        "demo", "--config-dir", str(repo_config), "--port", ports[0], "--legacy-port", ports[1],
        "--cloud-port", ports[2], env=_env(GATEWAY_LOG_LEVEL="verbose"),
    )  # fmt: skip
    lines = _short_failure(result)
    assert "GATEWAY_LOG_LEVEL" in lines[-1], lines


def test_workers_that_cannot_start_stop_the_gateway_rather_than_restart_for_ever(
    repo_config: Path,
) -> None:
    """README: `gateway serve` "exits 1 if a worker cannot start". An unknown GATEWAY_LOG_LEVEL
    made every worker's app factory raise, and the supervisor started another, and another,
    each with its traceback, for ever: it is refused before any worker starts."""
    env = _env(GATEWAY_LOG_LEVEL="verbose", GATEWAY_REDIS_URL=REDIS_URL, **PRESENT)
    args = [PYTHON, "-m", "gateway.cli", "serve", "--config-dir", str(repo_config)]
    proc = subprocess.Popen(
        [*args, "--port", str(free_port()), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its workers with it, to stop them all at the end
    )
    try:
        output, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        starts = output.count("Traceback")
        pytest.fail(f"still running after 15 s; {starts} workers started and failed")
    assert proc.returncode == 1
    assert output.count("Traceback") == 0, output[-2000:]


def test_serve_with_workers_takes_the_empty_metrics_directory_the_operator_set(
    tmp_path: Path,
    repo_config: Path,
) -> None:
    """README: PROMETHEUS_MULTIPROC_DIR "set, it must be empty at start": what the `gateway`
    command's own metrics write there as it starts does not count against it."""
    empty = tmp_path / "metrics"
    empty.mkdir()
    port = free_port()
    env = _env(GATEWAY_REDIS_URL=REDIS_URL, PROMETHEUS_MULTIPROC_DIR=str(empty), **PRESENT)
    args = ["serve", "--config-dir", str(repo_config), "--port", str(port), "--workers", "2"]
    with run_process(
        [PYTHON, "-m", "gateway.cli", *args],
        f"http://127.0.0.1:{port}/readyz",
        env=env,
        inherit_env=False,
        deadline_s=60,  # two workers starting on a loaded machine
    ) as server:
        assert server.proc.poll() is None


def test_a_metrics_directory_that_does_not_exist_is_one_line_not_a_traceback(
    tmp_path: Path,
) -> None:
    """A PROMETHEUS_MULTIPROC_DIR that names no directory is said in one line, for every
    command (prometheus_client failed as the first metric was made, with a traceback)."""
    env = _env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "missing"))
    lines = _short_failure(_gateway("check", "--config-dir", str(REPO), env=env))
    assert "PROMETHEUS_MULTIPROC_DIR" in lines[0]


def test_log_levels_are_taken_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.cli.base import log_level

    for given, level in (("debug", "DEBUG"), (" Warning ", "WARNING"), ("INFO", "INFO")):
        monkeypatch.setenv("GATEWAY_LOG_LEVEL", given)
        assert log_level() == level


def test_a_worker_started_again_while_the_files_are_broken_says_so_in_a_line(
    tmp_path: Path,
) -> None:
    """`gateway serve` checks the files before any worker starts; a worker started again
    after a crash, while an edit has broken them, says why it cannot start in one line, not
    with a traceback, and exits CONFIG_REFUSED (its supervisor starts it again once they
    change)."""
    from gateway.server import CONFIG_REFUSED
    from tests.configs import write_config

    config = write_config(tmp_path)
    (config / "routes.yaml").write_text("rules: [\n")
    env = {**_env(), "GATEWAY_CONFIG_DIR": str(config)}
    done = subprocess.run(
        [PYTHON, "-c", "from gateway.cli.serve import create_app; create_app()"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = done.stdout + done.stderr
    assert done.returncode == CONFIG_REFUSED
    assert "Traceback" not in said
    refused = [line for line in said.splitlines() if "cannot start" in line]
    assert len(refused) == 1 and "routes.yaml" in refused[0]


def test_output_cut_short_by_its_reader_is_no_traceback(tmp_path: Path) -> None:
    """`gateway plan OLD NEW | head -2`: the reader closes the pipe before the command has
    written everything; the command stops quietly."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # a reader that has gone: every write fails with EPIPE
    try:
        done = subprocess.run(
            [PYTHON, "-m", "gateway.cli", "plan", "routes.yaml", "routes.yaml"],
            cwd=REPO,
            env=_env(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr
    assert done.returncode == 1


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:abc/0", "redis://127.0.0.1:6379/zero", "redis://[::1/0"]
)
def test_serve_with_a_store_url_redis_cannot_read_is_two_lines_not_a_traceback(
    url: str,
    repo_config: Path,
) -> None:
    """A GATEWAY_REDIS_URL with the right scheme but a port or database that is no number
    was taken at start, and failed in the app factory, inside uvicorn: a traceback after the
    banner. It is said before anything starts, the variable named."""
    result = _gateway(
        "serve", "--config-dir", str(repo_config), "--port", str(free_port()),
        env=_env(GATEWAY_REDIS_URL=url, **PRESENT),
    )  # fmt: skip
    lines = _short_failure(result)
    assert "GATEWAY_REDIS_URL" in lines[0]


@pytest.mark.parametrize("url", ["redis://127.0.0.1:abc/0", "http://127.0.0.1:6379/0"])
def test_demo_with_a_store_url_it_cannot_open_is_two_lines_not_a_traceback(
    url: str,
    repo_config: Path,
) -> None:
    ports = _three_ports()
    result = _gateway(
        "demo", "--config-dir", str(repo_config), "--port", ports[0], "--legacy-port", ports[1],
        "--cloud-port", ports[2], env=_env(GATEWAY_REDIS_URL=url),
    )  # fmt: skip
    lines = _short_failure(result)  # the demo secret's warning, then what is wrong
    assert "GATEWAY_REDIS_URL" in lines[-1], lines

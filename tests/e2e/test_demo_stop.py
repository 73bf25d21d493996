"""`gateway demo` stopped with Ctrl-C (SIGINT) as `gateway serve` stops: its gateway drains the
requests in flight while the simulators still answer them, says so in the same two lines, and
the demo exits 0 with no traceback."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from gateway.demo import SIMULATOR_CREDENTIALS
from tests.configs import TEST_SECRET
from tests.e2e.gateways import token_for
from tests.e2e.test_serve_stop_log import _cut_off_answer, _status, _stop_while_one_read_is_held
from tests.servers import PYTHON, ServerProcess, free_port, run_process


def _three_ports() -> list[int]:
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    return list(ports)


@contextlib.contextmanager
def _demo(config_dir: Path) -> Iterator[tuple[str, str, ServerProcess]]:
    """`gateway demo` on three free ports, once it is ready: the gateway's and the cloud
    simulator's URLs, and the process."""
    gateway, legacy, cloud = _three_ports()
    args = [
        PYTHON, "-m", "gateway.cli", "demo", "--config-dir", str(config_dir),
        "--port", str(gateway), "--legacy-port", str(legacy), "--cloud-port", str(cloud),
    ]  # fmt: skip
    # The demo's own credentials and events secrets, with the tests' demo secret to mint by.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and k not in SIMULATOR_CREDENTIALS
    }
    env["GATEWAY_DEMO_SECRET"] = TEST_SECRET
    url = f"http://127.0.0.1:{gateway}"
    with run_process(args, f"{url}/readyz", env=env, inherit_env=False, expect=200) as proc:
        yield url, f"http://127.0.0.1:{cloud}", proc


def test_ctrl_c_drains_the_demo_gateway_as_serve_does_and_prints_no_traceback(
    repo_config: Path,
) -> None:
    token = token_for("crm-demo", repo_config)
    with _demo(repo_config) as (url, cloud_url, proc), httpx.Client(base_url=cloud_url) as cloud:
        got = _stop_while_one_read_is_held(
            proc, url, token, cloud, {"mode": "latency", "latency_ms": 1000}, signal.SIGINT
        )
        output = proc.output()
    # The simulators stop after the gateway has drained: the read held at the ERP is answered.
    assert [_status(answer) for answer in got] == [200], output
    assert proc.proc.returncode == 0, output
    said = re.findall(r"^\d\d:\d\d:\d\d (\w+) gateway\.server: (.*)$", output, re.MULTILINE)
    assert said[0] == ("info", "stopping: draining 1 request in flight, up to 30 s"), output
    assert said[1][0] == "info" and said[1][1].startswith("stopped: drained in "), output
    assert len(said) == 2, output
    assert "Traceback" not in output, output


def test_ctrl_c_twice_stops_the_demo_with_no_traceback(repo_config: Path) -> None:
    """The second Ctrl-C once the gateway has drained, as the simulators stop: whichever
    server it reaches quits at once, and nothing it leaves prints a traceback."""
    with _demo(repo_config) as (_, _, proc):
        proc.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        while "gateway.server: stopped:" not in proc.output():
            assert time.monotonic() < deadline, proc.output()
            time.sleep(0.02)
        proc.proc.send_signal(signal.SIGINT)
        proc.proc.wait(timeout=30)
        output = proc.output()
    assert proc.proc.returncode == 0, output
    assert "Traceback" not in output, output


def test_ctrl_c_stops_the_demo_though_a_simulator_holds_a_request_nobody_waits_for(
    repo_config: Path,
) -> None:
    """A simulator holding a request after the gateway has drained (a `timeout` fault holds one
    for two minutes, a client that never sends its body holds one for ever) serves nobody who
    is still waiting: one Ctrl-C stops the demo all the same, not minutes later."""
    with _demo(repo_config) as (_, cloud_url, proc):
        port = int(cloud_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as held:
            held.sendall(
                b"POST /services/rest/auth/oauth2/v1/token HTTP/1.1\r\nHost: erp\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ng"
            )
            deadline = time.monotonic() + 20
            while httpx.get(cloud_url + "/_sim/stats", timeout=5).json()["in_flight"] < 1:
                assert time.monotonic() < deadline, "the request never reached the simulator"
                time.sleep(0.02)
            proc.proc.send_signal(signal.SIGINT)
            proc.proc.wait(timeout=30)  # held for ever without the simulators' drain limit
        output = proc.output()
    assert proc.proc.returncode == 0, output
    assert "Traceback" not in output, output


def test_ctrl_c_twice_answers_the_read_held_at_the_erp_as_serve_does(repo_config: Path) -> None:
    """Ctrl-C twice while the cloud simulator holds a read: the demo's gateway quits at once
    as `gateway serve` does, the reader told the gateway is stopping (503 `gateway_busy`), not
    uvicorn's text/plain 500, and the demo exits 0 with no traceback."""
    token = token_for("crm-demo", repo_config)
    with _demo(repo_config) as (url, cloud_url, proc), httpx.Client(base_url=cloud_url) as cloud:
        got = _stop_while_one_read_is_held(
            proc, url, token, cloud, {"mode": "timeout"}, signal.SIGINT, then=signal.SIGINT
        )
        output = proc.output()
    _cut_off_answer(got, write=False)
    assert proc.proc.returncode == 0, output
    assert "gateway.server: stopped: told to quit at once after " in output, output
    assert "Traceback" not in output, output

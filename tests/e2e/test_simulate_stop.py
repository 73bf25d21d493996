"""`gateway simulate` stopped with Ctrl-C twice, as a person does when the first seems to hang
(the simulator waits for a request in flight): it quits at once, with no traceback of what it
abandons, as `gateway serve` and `gateway demo` do."""

from __future__ import annotations

import signal
import socket
import time

import httpx

from tests.servers import PYTHON, free_port, run_process

WAIT_S = 20.0


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_ctrl_c_twice_stops_the_simulator_at_once_with_no_traceback() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "simulate", "cloud", "--port", str(port)]
    with run_process(args, url + "/_sim/stats", expect=200) as proc:
        with socket.create_connection(("127.0.0.1", port)) as held:
            # A token request whose body never comes: in flight while the simulator waits.
            held.sendall(
                b"POST /services/rest/auth/oauth2/v1/token HTTP/1.1\r\nHost: erp\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ng"
            )
            deadline = time.monotonic() + WAIT_S
            while httpx.get(url + "/_sim/stats", timeout=5).json()["in_flight"] < 1:
                assert time.monotonic() < deadline, "the request never reached the simulator"
                time.sleep(0.02)
            proc.proc.send_signal(signal.SIGINT)
            # The first Ctrl-C closes the listener and waits for the request: then the second.
            while _listening(port):
                assert time.monotonic() < deadline, proc.output()
                time.sleep(0.02)
            assert proc.proc.poll() is None, proc.output()  # still waiting for the request
            proc.proc.send_signal(signal.SIGINT)
            proc.proc.wait(timeout=WAIT_S)
        output = proc.output()
    assert proc.proc.returncode == 130, output
    assert "Traceback" not in output, output
    assert "Exception in ASGI application" not in output, output

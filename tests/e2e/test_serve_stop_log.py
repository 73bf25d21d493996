"""`gateway serve` stopping (SIGTERM, as a rolling deploy sends it): the log says when the drain
begins, how many requests are in flight and for how long at most it waits, and when it has
stopped, drained or with requests cut off; with several workers, each says so with its pid."""

from __future__ import annotations

import functools
import json
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.forced_stop import WRITE_OUT_S
from gateway.sockets import SPREAD_BY_KERNEL
from tests.e2e import payloads
from tests.e2e.checks import create_customer, retry_while_in_progress, stats
from tests.e2e.gateways import client_for, start_gateway, start_workers, token_for
from tests.redis_server import RedisProcess, redis_server_installed
from tests.servers import ServerProcess, wait_for

WAIT_S = 20.0  # at most: the simulator holds the request, both workers serve


def _stop_lines(output: str) -> list[dict[str, Any]]:
    """The gateway's lines about stopping, in the order written."""
    lines = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    return [
        line
        for line in lines
        if line["logger"] == "gateway.server"
        and line["msg"].split(": ")[0].endswith(("stopping", "stopped"))
    ]


def _stop_while_one_read_is_held(
    proc: ServerProcess,
    url: str,
    token: str,
    cloud: httpx.Client,
    fault: dict[str, Any],
    sig: signal.Signals = signal.SIGTERM,
    then: signal.Signals | None = None,
) -> list[object]:
    """`sig` to `proc` while the cloud ERP holds one read (under `fault`), and `then` once the
    drain has begun (SIGINT: Ctrl-C twice); what the reader got (the response, or the error),
    once the gateway has exited."""
    with client_for(url, token) as api:
        customer = create_customer(api, "US01")
    return _stop_while_one_request_is_held(
        proc,
        url,
        token,
        cloud,
        {**fault, "operations": ["customers.read"]},
        lambda api: api.get(f"/v1/customers/{customer['id']}"),
        sig,
        then,
    )


def _stop_while_one_request_is_held(
    proc: ServerProcess,
    url: str,
    token: str,
    cloud: httpx.Client,
    fault: dict[str, Any],
    send: Callable[[httpx.Client], httpx.Response],
    sig: signal.Signals,
    then: signal.Signals | None,
    meanwhile: Callable[[], None] = lambda: None,
) -> list[object]:
    """`_stop_while_one_read_is_held` for the request `send` sends, held under `fault`;
    `meanwhile` is done once the ERP holds it, before `sig`."""
    cloud.post("/_sim/faults", json=fault)
    # The simulator may still hold an earlier test's request (its gateway gone): this one's
    # is the next.
    held = stats(cloud)["in_flight"]
    got: list[object] = []

    def request() -> None:
        with client_for(url, token) as api:
            try:
                got.append(send(api))
            except httpx.HTTPError as exc:
                got.append(exc)

    sender = threading.Thread(target=request)
    sender.start()
    _wait_for(lambda: stats(cloud)["in_flight"] > held, "the ERP to hold the request")
    meanwhile()
    proc.proc.send_signal(sig)
    if then is not None:
        _wait_for(lambda: "stopping: draining" in proc.output(), "the drain to begin")
        proc.proc.send_signal(then)
    sender.join(timeout=30)
    proc.proc.wait(timeout=30)
    return got


def _status(answer: object) -> object:
    return answer.status_code if isinstance(answer, httpx.Response) else answer


def _access_lines(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    return [line for line in lines if line["logger"] == "gateway.access"]


def _cut_off_answer(got: list[object], write: bool) -> httpx.Response:
    """The one answer `got` holds, the problem a request the stopping gateway cut off gets."""
    [answer] = got
    assert isinstance(answer, httpx.Response), answer
    _assert_cut_off(answer, write)
    return answer


def _assert_cut_off_read_logged(output: str, answer: httpx.Response) -> None:
    """The cut-off read's access line says 503, with the answer's correlation id."""
    [access] = [
        line
        for line in _access_lines(output)
        if line["path"].startswith("/v1/customers/") and line["method"] == "GET"
    ]
    assert access["status"] == 503, access
    assert access["correlation_id"] == answer.headers["x-correlation-id"]


def _assert_cut_off(answer: httpx.Response, write: bool) -> None:
    """`answer` is the problem a request the stopping gateway cut off gets."""
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["connection"] == "close"
    problem = answer.json()
    assert (problem["code"], problem["category"], problem["retryable"]) == (
        "gateway_busy",
        "technical",
        True,
    ), problem
    assert "stopping" in problem["detail"], problem
    assert ("same Idempotency-Key" in problem["detail"]) is write, problem
    assert problem["correlation_id"] == answer.headers["x-correlation-id"]


_wait_for = functools.partial(wait_for, deadline_s=WAIT_S)


def test_sigterm_logs_the_drain_of_the_request_in_flight_and_its_end(
    gateway_env: dict[str, str], token: str, cloud: httpx.Client
) -> None:
    with start_gateway(gateway_env) as (url, proc):
        got = _stop_while_one_read_is_held(
            proc, url, token, cloud, {"mode": "latency", "latency_ms": 1000}
        )
        output = proc.output()
    assert [_status(answer) for answer in got] == [200]
    stopping, stopped = _stop_lines(output)
    assert stopping["msg"] == "stopping: draining 1 request in flight, up to 30 s"
    assert stopping["level"] == "info"
    assert (stopping["in_flight"], stopping["drain_timeout_s"]) == (1, 30)
    assert stopped["msg"].startswith("stopped: drained in "), stopped
    assert stopped["level"] == "info"
    assert stopped["cut_off"] == 0
    assert stopping["pid"] == stopped["pid"] == proc.pid


def test_sigterm_logs_the_requests_the_drain_timeout_cut_off(
    gateway_env: dict[str, str], token: str, cloud: httpx.Client
) -> None:
    """`--drain-timeout` well below the ERP's hold on the read (the backend's 1.5 s timeout
    the least of it): the drain ends with the read cut off, and the log says so, once. The
    reader is told, as a problem, that the gateway is stopping and to send it again (another
    instance takes it), not uvicorn's text/plain 500; its access line says so too."""
    with start_gateway(gateway_env, "--drain-timeout", "0.2") as (url, proc):
        got = _stop_while_one_read_is_held(proc, url, token, cloud, {"mode": "timeout"})
        output = proc.output()
    answer = _cut_off_answer(got, write=False)
    _assert_cut_off_read_logged(output, answer)
    stopping, stopped = _stop_lines(output)
    assert stopping["msg"] == "stopping: draining 1 request in flight, up to 0.2 s"
    assert stopped["msg"] == "stopped: 1 request cut off after 0.2 s", stopped
    assert stopped["level"] == "warning"
    assert stopped["cut_off"] == 1
    # Said in that line: not again as uvicorn's "Exception in ASGI application" and the
    # cancelled request's traceback.
    assert "Traceback" not in output, output
    assert "Exception in ASGI application" not in output, output


@pytest.mark.redis
def test_a_write_the_drain_cut_off_is_retried_on_another_gateway_into_one_order(
    gateway_env: dict[str, str],
    prod_config_dir: Path,
    private_redis: RedisProcess,
    token: str,
    cloud: httpx.Client,
) -> None:
    """An order the ERP has committed, its answer held back, when the drain cuts it off: the
    CRM is told to send it again with the same Idempotency-Key, and doing so on a gateway that
    did not stop (the same Redis) gives it the one order the ERP holds, never a second."""
    env = {
        **gateway_env,
        "GATEWAY_CONFIG_DIR": str(prod_config_dir),
        "GATEWAY_REDIS_URL": private_redis.url,
    }
    key = payloads.new_key()
    with start_gateway(env, "--drain-timeout", "0.2") as (url, proc):
        with client_for(url, token) as api:
            customer = create_customer(api, "US01")
        body = payloads.order("US01", customer["id"])
        before = stats(cloud)["sales_orders"]
        cloud.post(
            "/_sim/faults",
            json={"mode": "commit_then_timeout", "operations": ["sales_orders.create"]},
        )
        got: list[object] = []

        def post() -> None:
            with client_for(url, token) as api:
                try:
                    got.append(api.post("/v1/sales-orders", json=body, headers=key))
                except httpx.HTTPError as exc:
                    got.append(exc)

        sender = threading.Thread(target=post)
        sender.start()
        _wait_for(lambda: stats(cloud)["sales_orders"] == before + 1, "the ERP to commit")
        proc.proc.send_signal(signal.SIGTERM)
        sender.join(timeout=30)
        proc.proc.wait(timeout=30)
        output = proc.output()
    answer = _cut_off_answer(got, write=True)
    [access] = [line for line in _access_lines(output) if line["path"] == "/v1/sales-orders"]
    assert access["status"] == 503, access
    cloud.delete("/_sim/faults")
    with start_gateway(env) as (fresh, _), client_for(fresh, token) as api:
        retry = retry_while_in_progress(api, body, key)
        assert retry.status_code == 201, retry.text
        admin = {"Authorization": f"Bearer {token_for('ops-admin', prod_config_dir)}"}
        [entry] = httpx.get(
            f"{fresh}/admin/transactions",
            params={"correlation_id": answer.headers["x-correlation-id"]},
            headers=admin,
            timeout=15,
        ).json()["items"]
    assert stats(cloud)["sales_orders"] == before + 1
    # One transaction: the attempt cut off (failed, `gateway_busy`), then the retry that
    # found its order.
    cut_off = answer.headers["x-correlation-id"]
    ended = [(s["state"], s.get("code")) for s in entry["states"] if s["state"] != "received"]
    assert entry["states"][0]["correlation_id"] == cut_off
    assert ("failed", "gateway_busy") in ended, entry
    assert ended[-1] == ("accepted", None), entry


@pytest.mark.redis
@pytest.mark.skipif(
    not SPREAD_BY_KERNEL,
    reason=f"each worker listens on its own socket on Linux only, not {sys.platform}",
)
def test_each_worker_says_with_its_pid_that_it_stops_and_has_stopped(
    gateway_env: dict[str, str], config_dir: Path, private_redis: RedisProcess
) -> None:
    admin = {"Authorization": f"Bearer {token_for('ops-admin', config_dir)}"}
    with start_workers(gateway_env, config_dir, private_redis.url) as (url, proc):
        # Both workers serving (the gateway answers once one is): a fresh connection goes to
        # either, and each names its process.
        seen: set[str] = set()

        def both_serve() -> bool:
            answer = httpx.get(f"{url}/admin/backends", headers=admin, timeout=15)
            seen.add(answer.json()["instance"])
            return len(seen) == 2

        _wait_for(both_serve, "both workers to serve")
        proc.proc.send_signal(signal.SIGTERM)
        proc.proc.wait(timeout=60)
        output = proc.output()
    lines = _stop_lines(output)
    pids = {line["pid"] for line in lines}
    assert len(pids) == 2, lines
    assert proc.pid not in pids  # the workers', not the supervisor's
    for pid in pids:
        said = [line["msg"] for line in lines if line["pid"] == pid]
        assert said[0] == f"worker [{pid}] stopping: draining 0 requests in flight, up to 30 s"
        assert said[1].startswith(f"worker [{pid}] stopped: drained in "), said
        assert len(said) == 2, said


def test_a_second_sigint_quits_at_once_and_says_so_with_no_traceback(
    gateway_env: dict[str, str], token: str
) -> None:
    """Ctrl-C twice, as a person does when the first seems to hang: the drain stops waiting,
    the line says so, and nothing the gateway left to the event loop's end (the app's
    shutdown, the request it abandoned) prints a traceback."""
    with start_gateway(gateway_env, "--body-timeout", "60") as (url, proc):
        port = urlsplit(url).port
        assert port is not None
        with socket.create_connection(("127.0.0.1", port)) as held:
            # A request whose body never comes: in flight until the body timeout.
            held.sendall(
                b"POST /v1/customers HTTP/1.1\r\nHost: gateway\r\n"
                + f"Authorization: Bearer {token}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            proc.proc.send_signal(signal.SIGINT)
            _wait_for(lambda: len(_stop_lines(proc.output())) >= 1, "the drain to begin")
            proc.proc.send_signal(signal.SIGINT)
            proc.proc.wait(timeout=30)
        output = proc.output()
    stopping, stopped = _stop_lines(output)
    assert stopping["msg"] == "stopping: draining 1 request in flight, up to 30 s", output
    assert stopped["msg"].startswith("stopped: told to quit at once after "), stopped
    assert "Traceback" not in output, output


def test_a_second_sigint_answers_the_read_held_at_the_erp_as_the_drain_cut_off_does(
    gateway_env: dict[str, str], repo_config: Path, cloud: httpx.Client
) -> None:
    """Ctrl-C twice while the cloud ERP holds a read: the gateway quits at once, and the
    reader is told, as a request the drain's limit cut off is, that the gateway is stopping
    and to send it again (503 `gateway_busy`, its correlation id, its access line), not
    uvicorn's text/plain 500 as the event loop ends. The repository's config: its ERP timeout
    (5 s) outlasts the two signals, where the e2e config's 1.5 s answers the read 504 first."""
    env = {**gateway_env, "GATEWAY_CONFIG_DIR": str(repo_config)}
    token = token_for("crm-demo", repo_config)
    with start_gateway(env) as (url, proc):
        got = _stop_while_one_read_is_held(
            proc, url, token, cloud, {"mode": "timeout"}, signal.SIGINT, then=signal.SIGINT
        )
        output = proc.output()
    answer = _cut_off_answer(got, write=False)
    _assert_cut_off_read_logged(output, answer)
    stopping, stopped = _stop_lines(output)
    assert stopping["msg"] == "stopping: draining 1 request in flight, up to 30 s", output
    assert stopped["msg"].startswith("stopped: told to quit at once after "), stopped
    assert stopped["cut_off"] == 1
    assert "Traceback" not in output, output
    assert "Exception in ASGI application" not in output, output


@pytest.mark.redis
def test_a_second_sigint_still_writes_the_cut_off_write_to_the_journal_and_the_audit_trail(
    gateway_env: dict[str, str], repo_config: Path, private_redis: RedisProcess, cloud: httpx.Client
) -> None:
    """Ctrl-C twice while the cloud ERP holds a create: the gateway quits at once, but writes
    out what it buffers for the store first. Another gateway on the same Redis finds the
    transaction journaled with the 503 it was answered, and its outcome in the audit trail,
    which verifies: both were lost with the app's shutdown, which a forced stop skips."""
    env = {
        **gateway_env,
        "GATEWAY_CONFIG_DIR": str(repo_config),
        "GATEWAY_REDIS_URL": private_redis.url,
    }
    token = token_for("crm-demo", repo_config)
    body, key = payloads.customer("US01"), payloads.new_key()
    with start_gateway(env) as (url, proc):
        got = _stop_while_one_request_is_held(
            proc,
            url,
            token,
            cloud,
            {"mode": "timeout", "operations": ["customers.create"]},
            lambda api: api.post("/v1/customers", json=body, headers=key),
            signal.SIGINT,
            then=signal.SIGINT,
        )
        output = proc.output()
    answer = _cut_off_answer(got, write=True)
    cut_off = answer.headers["x-correlation-id"]
    _, stopped = _stop_lines(output)
    # Nothing left unwritten, so nothing said of it.
    assert stopped["msg"].startswith("stopped: told to quit at once after "), stopped
    assert stopped["msg"].endswith(", 1 request cut off"), stopped
    assert stopped["cut_off"] == 1
    assert stopped["unwritten"] == {"journal": 0, "audit": 0, "releases": 0}, stopped
    assert "Traceback" not in output, output
    cloud.delete("/_sim/faults")
    admin = {"Authorization": f"Bearer {token_for('ops-admin', repo_config)}"}
    with (
        start_gateway(env) as (fresh, _),
        httpx.Client(base_url=fresh, headers=admin, timeout=15) as ops,
    ):
        journaled = ops.get("/admin/transactions", params={"correlation_id": cut_off})
        exported = ops.get("/admin/audit")
        verdict = ops.get("/admin/audit/verify")
    [entry] = journaled.json()["items"]
    assert (entry["status"], entry["http_status"]) == ("failed", 503), entry
    assert (entry["states"][-1]["state"], entry["states"][-1]["code"]) == (
        "failed",
        "gateway_busy",
    ), entry
    trail = [json.loads(line) for line in exported.text.splitlines()]
    [event] = [
        e
        for e in trail
        if e.get("kind") == "transaction" and e["details"]["correlation_id"] == cut_off
    ]
    assert (event["details"]["status"], event["details"]["code"]) == ("failed", "gateway_busy")
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["intact"] is True, verdict.json()


@pytest.mark.redis
@pytest.mark.skipif(not redis_server_installed(), reason="redis-server is not installed")
def test_a_second_sigint_with_the_store_gone_says_what_it_could_not_write_out(
    gateway_env: dict[str, str], repo_config: Path, cloud: httpx.Client
) -> None:
    """Ctrl-C twice while the cloud ERP holds a create, its Redis stopped meanwhile: the
    write-out waits no longer than its bound, and the stop line says what it left unwritten
    (the attempt's journal entry and audit entry, lost with the process), with no traceback."""
    token = token_for("crm-demo", repo_config)
    admin = {"Authorization": f"Bearer {token_for('ops-admin', repo_config)}"}
    with RedisProcess() as redis:
        env = {
            **gateway_env,
            "GATEWAY_CONFIG_DIR": str(repo_config),
            "GATEWAY_REDIS_URL": redis.url,
        }
        with start_gateway(env) as (url, proc):
            # The startup's audit entry written (the check writes out the trail first): the
            # one left is the attempt's.
            verdict = httpx.get(f"{url}/admin/audit/verify", headers=admin, timeout=15)
            assert verdict.status_code == 200, verdict.text
            _stop_while_one_request_is_held(
                proc,
                url,
                token,
                cloud,
                {"mode": "timeout", "operations": ["customers.create"]},
                lambda api: api.post(
                    "/v1/customers", json=payloads.customer("US01"), headers=payloads.new_key()
                ),
                signal.SIGINT,
                then=signal.SIGINT,
                meanwhile=redis.stop,
            )
            output = proc.output()
    _, stopped = _stop_lines(output)
    assert stopped["cut_off"] == 1, output
    assert stopped["unwritten"]["journal"] == stopped["unwritten"]["audit"] == 1, output
    said = f"; not written in {WRITE_OUT_S:g} s: 1 journal entry, 1 audit entry"
    assert stopped["msg"].endswith(said), stopped
    assert "Traceback" not in output, output
    assert "never retrieved" not in output, output  # what it stopped waiting for

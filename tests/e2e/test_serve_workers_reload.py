"""`gateway serve --workers 2` reloads its configuration in every worker, in place: the admin
endpoint's reload reaches the workers that did not answer it, and SIGHUP with a broken file
is refused in each worker as in one (the last good configuration kept, audited, counted and
logged with its file and line), while clients go on being served."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.server import FILES_CHECK_S, RETRY_FIRST_S
from gateway.sockets import SPREAD_BY_KERNEL
from tests.configs import write_config
from tests.e2e.gateways import start_workers, token_for
from tests.redis_server import RedisProcess
from tests.servers import ServerProcess, fresh_connections_client

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not SPREAD_BY_KERNEL,
        reason=f"the kernel spreads connections over workers on Linux only, not {sys.platform}",
    ),
]

CONVERGE_S = 20.0  # at most: every worker has reloaded (each within a second or so)
CLIENTS_PAUSE_S = 0.03  # between one request of `Clients` and the next
NEW_RULE = """  - id: de01-wave-3
    match: {legal_entities: [DE01]}
    backend: cloud
"""


@dataclass(frozen=True)
class WorkerView:
    """What one worker serves, asked on one fresh connection (which one worker serves)."""

    instance: str
    version: str
    de01_rule: str  # the rule that routes DE01's new customers ("default": none does)


class Gateway:
    """A running `gateway serve --workers 2`, asked as an operator asks it."""

    def __init__(self, url: str, config_dir: Path) -> None:
        self.url = url
        self.address = urlsplit(url)
        self.admin = {"Authorization": f"Bearer {token_for('ops-admin', config_dir)}"}
        self.api = {"Authorization": f"Bearer {token_for('crm-demo', config_dir)}"}

    def view(self) -> WorkerView:
        connection = http.client.HTTPConnection(
            self.address.hostname, self.address.port, timeout=15
        )
        try:
            # The routing first: a worker reloading between the two answers reports the
            # version it routed by, or a later one, never an earlier one.
            explained = _answer(
                connection,
                "POST",
                "/admin/routes/explain",
                {**self.admin, "Content-Type": "application/json"},
                {"operation": "customers.create", "legal_entity": "DE01"},
            )
            config = _answer(connection, "GET", "/admin/config", self.admin)
            backends = _answer(connection, "GET", "/admin/backends", self.admin)
        finally:
            connection.close()
        return WorkerView(backends["instance"], config["version"], explained["decision"]["rule"])

    def every_worker(
        self, until: Callable[[WorkerView], bool] | None = None
    ) -> dict[str, WorkerView]:
        """Each worker's view, asked on fresh connections until both workers answered (and,
        with `until`, until both views satisfy it), within CONVERGE_S."""
        seen: dict[str, WorkerView] = {}
        deadline = time.monotonic() + CONVERGE_S
        while time.monotonic() < deadline:
            view = self.view()
            seen[view.instance] = view
            if len(seen) == 2 and (until is None or all(until(v) for v in seen.values())):
                break
        return seen

    def audit_after(self, seq: int) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/admin/audit", headers=self.admin, timeout=15)
        assert response.status_code == 200, response.text
        entries = [json.loads(line) for line in response.text.splitlines()]
        return [e for e in entries if "seq" in e and e["seq"] > seq]

    def last_seq(self) -> int:
        entries = self.audit_after(0)
        return max((e["seq"] for e in entries), default=0)

    def reloads_after(self, seq: int, count: int) -> list[dict[str, Any]]:
        """The config.reloaded and config.refused entries after `seq`, once there are `count`
        (or what there is after CONVERGE_S)."""
        deadline = time.monotonic() + CONVERGE_S
        while True:
            found = [
                e
                for e in self.audit_after(seq)
                if e["kind"] in ("config.reloaded", "config.refused")
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def refused_reloads_counted(self) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=15).text
        found = re.findall(r'^gateway_config_reloads_total\{result="refused"\} (\S+)$', text, re.M)
        return float(found[0]) if found else 0.0


def _answer(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
) -> Any:
    connection.request(
        method, path, body=None if body is None else json.dumps(body), headers=headers
    )
    response = connection.getresponse()
    text = response.read()
    assert response.status == 200, text
    return json.loads(text)


class Clients:
    """Requests on fresh connections, one after another, while something happens: what each
    got (a status, or the error that took its connection)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._stop = threading.Event()
        self.answers: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with fresh_connections_client(15) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(
                        f"{self._gateway.url}/v1/customers",
                        params={"external_ref": "RELOAD-CHECK"},
                        headers=self._gateway.api,
                    )
                    self.answers.append(str(response.status_code))
                except httpx.HTTPError as exc:
                    self.answers.append(repr(exc))
                # At the pace a client each made them (its SSL context some 25 ms): within the
                # configuration's rate limit.
                self._stop.wait(CLIENTS_PAUSE_S)

    def __enter__(self) -> Clients:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def reload_gateway(
    gateway_env: dict[str, str], tmp_path: Path, private_redis: RedisProcess
) -> Iterator[tuple[Gateway, Path, ServerProcess]]:
    """`gateway serve --workers 2` on a configuration of its own, the file watcher off (so
    that only SIGHUP and the admin endpoint reload), both workers serving."""
    config_dir = write_config(tmp_path)
    env = {**gateway_env, "GATEWAY_CONFIG_POLL": "0"}
    with start_workers(env, config_dir, private_redis.url) as (url, proc):
        gateway = Gateway(url, config_dir)
        assert len(gateway.every_worker()) == 2, "one worker served every connection"
        yield gateway, config_dir, proc


def _log_lines(proc: ServerProcess, message: str) -> list[dict[str, Any]]:
    """The gateway's JSON log lines whose message begins with `message`."""
    lines = (json.loads(line) for line in proc.output().splitlines() if line.startswith("{"))
    return [line for line in lines if line["msg"].startswith(message)]


def _wait_for_log(proc: ServerProcess, message: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + CONVERGE_S
    while not (found := _log_lines(proc, message)):
        assert time.monotonic() < deadline, f"nobody logged {message!r}"
        time.sleep(0.05)
    return found


def _wait_until_reaped(pid: int) -> None:
    """Until process `pid` is gone, reaped by its supervisor, within CONVERGE_S. Not merely a
    zombie: its threads may still hold its listening socket (a connection queued there would
    be reset, as the README says of a worker that stops)."""
    deadline = time.monotonic() + CONVERGE_S
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, f"worker {pid} not reaped after SIGKILL"
        time.sleep(0.01)


def _add_de01_rule(config_dir: Path) -> None:
    routes = config_dir / "routes.yaml"
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + NEW_RULE, 1))


def _break_routes(config_dir: Path) -> int:
    """An unknown key at the end of routes.yaml; its line."""
    routes = config_dir / "routes.yaml"
    text = routes.read_text()
    routes.write_text(text + "unknown_key: 1\n")
    return len(text.splitlines()) + 1


def test_an_admin_reload_is_served_by_every_worker(
    reload_gateway: tuple[Gateway, Path, ServerProcess],
) -> None:
    gateway, config_dir, proc = reload_gateway
    before = gateway.every_worker()
    (old_version,) = {v.version for v in before.values()}
    seq = gateway.last_seq()
    _add_de01_rule(config_dir)

    reloaded = httpx.post(f"{gateway.url}/admin/config/reload", headers=gateway.admin, timeout=15)
    assert reloaded.status_code == 200, reloaded.text

    after = gateway.every_worker(until=lambda v: v.de01_rule == "de01-wave-3")
    # Both workers route DE01 by the new routes.yaml, and say the version the answer named.
    assert len(after) == 2
    assert {v.de01_rule for v in after.values()} == {"de01-wave-3"}, after
    version = reloaded.json()["version"]
    assert version != old_version
    assert {v.version for v in after.values()} == {version}, after
    # The worker that answered is signalled too, and finds nothing new: one entry per worker,
    # the one that answered by the operator's name, the other by the supervisor's signal.
    _wait_for_log(proc, "config unchanged")
    actors = sorted(e["actor"] for e in gateway.reloads_after(seq, 2))
    assert actors == ["SIGHUP", "admin ops-admin"], actors


def test_sighup_with_a_broken_file_is_refused_in_every_worker_and_the_last_good_config_serves(
    reload_gateway: tuple[Gateway, Path, ServerProcess],
) -> None:
    gateway, config_dir, proc = reload_gateway
    (old_version,) = {v.version for v in gateway.every_worker().values()}
    seq = gateway.last_seq()
    line = _break_routes(config_dir)

    with Clients(gateway) as clients:
        proc.proc.send_signal(signal.SIGHUP)
        refused = gateway.reloads_after(seq, 2)
        after = gateway.every_worker()

    assert [(e["kind"], e["actor"]) for e in refused] == [("config.refused", "SIGHUP")] * 2
    for entry in refused:
        assert entry["details"]["running_version"] == old_version
        assert any(f"routes.yaml:{line}:" in issue for issue in entry["details"]["issues"])
    assert gateway.refused_reloads_counted() == 2
    # Each worker says why in one line of the gateway's log: the file and the line.
    logged = _log_lines(proc, "config reload refused")
    assert len(logged) == 2, proc.output()[-4000:]
    assert all(f"routes.yaml:{line}:" in entry["msg"] for entry in logged), logged
    # Both workers go on with the last good configuration; no client saw anything of it.
    assert {v.version for v in after.values()} == {old_version}, after
    assert clients.answers and set(clients.answers) == {"200"}, clients.answers


def test_sighup_reloads_every_worker_in_place_and_a_restarted_worker_reads_the_files_as_they_are(
    reload_gateway: tuple[Gateway, Path, ServerProcess],
) -> None:
    gateway, config_dir, proc = reload_gateway
    seq = gateway.last_seq()
    _add_de01_rule(config_dir)

    with Clients(gateway) as clients:
        proc.proc.send_signal(signal.SIGHUP)
        reloaded = gateway.reloads_after(seq, 2)
        after = gateway.every_worker(until=lambda v: v.de01_rule == "de01-wave-3")
    # Reloaded in place, by each worker, with nobody's request lost meanwhile.
    assert [(e["kind"], e["actor"]) for e in reloaded] == [("config.reloaded", "SIGHUP")] * 2
    assert {v.de01_rule for v in after.values()} == {"de01-wave-3"}, after
    assert clients.answers and set(clients.answers) == {"200"}, clients.answers
    (version,) = {v.version for v in after.values()}

    # A worker that dies is started again by the supervisor, on the files as they are.
    victim = next(iter(after))
    pid = int(victim.rpartition(":")[2])
    os.kill(pid, signal.SIGKILL)
    _wait_until_reaped(pid)
    replaced = gateway.every_worker(
        until=lambda v: v.instance != victim and v.de01_rule == "de01-wave-3"
    )
    assert victim not in replaced and len(replaced) == 2, replaced
    assert {(v.version, v.de01_rule) for v in replaced.values()} == {(version, "de01-wave-3")}


def test_a_sighup_while_a_worker_starts_reaches_it_once_it_serves_and_does_not_end_it(
    reload_gateway: tuple[Gateway, Path, ServerProcess],
) -> None:
    gateway, config_dir, proc = reload_gateway
    earlier = _children(proc.pid)
    victim = next(iter(gateway.every_worker()))
    pid = int(victim.rpartition(":")[2])
    os.kill(pid, signal.SIGKILL)
    _wait_until_reaped(pid)
    starting = _new_child(proc.pid, earlier)  # importing the gateway: no SIGHUP handler yet

    _add_de01_rule(config_dir)
    proc.proc.send_signal(signal.SIGHUP)

    after = gateway.every_worker(
        until=lambda v: v.instance != victim and v.de01_rule == "de01-wave-3"
    )
    # The worker that was starting serves, by the new routes.yaml: the signal waited for it.
    assert {int(i.rpartition(":")[2]) for i in after} >= {starting}, after
    assert {v.de01_rule for v in after.values()} == {"de01-wave-3"}, after


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def _new_child(pid: int, earlier: set[int]) -> int:
    """The child `pid` started since `earlier`, once there is one, within CONVERGE_S."""
    deadline = time.monotonic() + CONVERGE_S
    while not (new := _children(pid) - earlier):
        assert time.monotonic() < deadline, f"{pid} started no worker"
        time.sleep(0.01)
    (child,) = new
    return child


WORKER_REFUSED = "a worker cannot start, its configuration is refused"
WATCH_S = 2.0  # past a supervisor's tick (0.5 s), within its first wait (RETRY_FIRST_S)


def test_a_worker_that_cannot_start_on_broken_files_waits_for_them_to_change(
    reload_gateway: tuple[Gateway, Path, ServerProcess],
) -> None:
    """A worker that dies while the files cannot be loaded (a crash, an OOM kill during an
    edit) is started again once, then not again while the files stay as they are (uvicorn
    started one every half second, each a process importing the gateway and a line in the
    log); once they change it is started again at once, without waiting out its back-off."""
    assert WATCH_S + 2 * FILES_CHECK_S < RETRY_FIRST_S
    gateway, config_dir, proc = reload_gateway
    routes = config_dir / "routes.yaml"
    good = routes.read_text()
    victim = next(iter(gateway.every_worker()))
    earlier = _workers(proc.pid)
    line = _break_routes(config_dir)
    pid = int(victim.rpartition(":")[2])
    os.kill(pid, signal.SIGKILL)
    _wait_until_reaped(pid)
    replacement = _new_worker(proc.pid, earlier)  # started at once: the files may be fixed
    _wait_until_reaped(replacement)  # it could not start

    with Clients(gateway) as clients:
        time.sleep(WATCH_S)
        started = _workers(proc.pid) - earlier
    assert started == set(), f"workers started again on unchanged files: {started}"
    refused = _log_lines(proc, WORKER_REFUSED)
    assert len(refused) == 1, [e["msg"] for e in refused]
    assert f"routes.yaml:{line}:" in refused[0]["msg"], refused
    waiting = _log_lines(proc, "a worker's configuration is refused")
    assert len(waiting) == 1, proc.output()[-4000:]
    # The other worker served all along.
    assert clients.answers and set(clients.answers) == {"200"}, clients.answers

    routes.write_text(good)
    replaced = gateway.every_worker(until=lambda v: v.instance != victim)
    assert victim not in replaced and len(replaced) == 2, replaced
    # Started because the files changed, not because its wait ran out.
    assert _log_lines(proc, "starting the worker again: the configuration files changed")


def _new_worker(pid: int, earlier: set[int]) -> int:
    """The worker `pid` started since `earlier`, once there is one, within CONVERGE_S."""
    deadline = time.monotonic() + CONVERGE_S
    while not (new := _workers(pid) - earlier):
        assert time.monotonic() < deadline, f"{pid} started no worker"
        time.sleep(0.01)
    (worker,) = new
    return worker


def _workers(pid: int) -> set[int]:
    """The worker processes `pid` runs (multiprocessing's resource tracker aside)."""
    found = set()
    for child in _children(pid):
        with contextlib.suppress(OSError):  # gone meanwhile
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
    return found

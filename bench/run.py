"""Load benchmark, side by side on one cloud ERP simulator: nginx as a reverse proxy, a bare
Python proxy (`bench.bare_proxy`), and the gateway with every policy on (JWT, entitlements,
rate limits, ERP budget, idempotency, routing, version translation, journal and audit, access
log), on the memory store and on Redis, with one and two workers.

wrk drives each scenario from one core, the server under test runs on the other; for each
row: requests/s, latency percentiles, the CPU each process spent per request (the server, the
simulator, the bench's Redis), the ERP calls and connections per request, and the gateway's
ratios to the proxies and issue 16's targets. Then the creates again with the journal off, to
show what the journal and the audit trail cost. Results go to bench/results/ (JSON lines and
Markdown); `--update-readme` writes the Markdown into the README's Performance section.

Not a test: nothing here asserts. Run with `make bench` (`BENCH_ARGS="--quick"`, `--profile`,
`--update-readme`, ...; `--help` lists them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench import debian, profiler, results
from bench.cpu import CpuMeter
from bench.nginx import nginx_command
from bench.results import BARE, GATEWAY, MEMORY, NGINX, REDIS, Profiled, Row, Run
from bench.scenarios import (
    GATEWAY_SCENARIOS,
    GET,
    GET_V2,
    POST_ORDER,
    PROXY_SCENARIOS,
    REFERENCE,
    WRITE_VERSION,
    Scenario,
    customer_body,
    gateway_scenarios,
    netsuite_customer,
    netsuite_order,
    order_body,
    proxy_scenarios,
)
from bench.wrk import UNIQUE, Load, WrkResult, lua_script, run_wrk
from gateway.adapters.netsuite.assertions import token_request
from gateway.adapters.netsuite.credentials import ClientCredentials, netsuite_credentials
from gateway.adapters.netsuite.records import CUSTOMER, SALES_ORDER, record_path
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.config.backends import NetSuiteBackend
from gateway.config.loader import load_config
from gateway.demo import SIMULATOR_CREDENTIALS, demo_issuer, mint_token
from tests.configs import write_config
from tests.redis_server import RedisProcess, redis_server_installed
from tests.servers import PYTHON, free_port, run_process

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
# Limits far above what one machine can send: the benchmark measures the gateway, not a 429.
# The policies still run on every request.
BENCH_RATE_LIMITS = """
tiers:
  standard: {rate_per_s: 1000000, burst: 1000000}
backends:
  legacy: {max_rps: 1000000, max_in_flight: 1024}
  cloud: {max_rps: 1000000, max_in_flight: 1024}
"""
# The same gateway without the transaction journal (nor the outcomes' audit entries).
JOURNAL_OFF = """
journal:
  enabled: false
"""
SECRET = "bench-secret-0123456789abcdef0123456789"
CLIENT = "crm-demo"
# A production CRM's token: the scopes the scenarios call. Not `gateway:debug`, which crm-demo is
# granted for the tour and which adds the routing decision's headers to every answer.
SCOPES = ("customers:read", "customers:write", "sales_orders:read", "sales_orders:write")
CLOUD = "cloud"
BARE_SERVER = "bare"  # --servers' name for the bare proxy
SECONDS, WARMUP_S = 8, 1  # a scenario's measured run and the warm-up before it
QUICK_SECONDS = 2
ROUNDS, QUICK_ROUNDS = 4, 2
CONNECTIONS = 32
HALF = 0.5  # the paced runs offer this share of the gateway's saturated GET rate
PROFILED = (GET_V2, POST_ORDER)  # the gateway's scenarios --profile samples


@dataclass(frozen=True)
class Pins:
    """Where wrk and the server under test run: `taskset` prefixes, and the same in words."""

    load: list[str]
    server: list[str]
    both: list[str]  # a server with two workers: both cores, wrk's included
    words: str

    @classmethod
    def for_machine(cls, taskset: str | None) -> Pins:
        cpus = sorted(os.sched_getaffinity(0))
        if taskset is None or len(cpus) < 2:
            why = "no taskset" if taskset is None else "one CPU"
            return cls([], [], [], f"Nothing pinned ({why}): every process shares the CPUs.")
        first, second = str(cpus[0]), str(cpus[1])
        return cls(
            [taskset, "-c", first],
            [taskset, "-c", second],
            [taskset, "-c", f"{first},{second}"],
            f"wrk runs on CPU {first}, the server under test on CPU {second} (two gateway "
            f"workers: on both, sharing CPU {first} with wrk); the simulators and Redis are not "
            "pinned and share both.",
        )


@dataclass(frozen=True)
class Subject:
    """The server under test, as its rows name it."""

    server: str  # NGINX, BARE or GATEWAY
    store: str = ""  # the gateway's
    workers: int = 1
    journal: bool = True


@dataclass(frozen=True)
class Cell:
    """One scenario on one running server: what a round measures once."""

    subject: Subject
    scenario: Scenario
    base_url: str
    pid: int
    paced_rps: float | None = None  # wrk's rate, if paced; else as fast as it goes


@dataclass
class Bench:
    """One run's servers under test, their fixtures and the rows they give."""

    args: argparse.Namespace
    run: Run
    stamp: str  # names this run's files
    pins: Pins
    wrk: list[str]
    work: Path  # a private directory, removed at the end
    seconds: int
    env: dict[str, str]  # the gateway's: simulators, credentials, demo secret
    cloud_url: str
    cloud_pid: int
    redis_url: str = ""
    redis_pid: int | None = None  # the bench's own Redis, whose CPU is measured
    config_dir: Path = field(init=False)
    _scripts: int = 0

    def __post_init__(self) -> None:
        self.config_dir = self._config()

    def _config(self, operations: str | None = None) -> Path:
        target = Path(tempfile.mkdtemp(prefix="config-", dir=self.work))
        # resilience={}: retries and breakers as backends/*.yaml ship them.
        if operations is None:
            return write_config(target, resilience={}, rate_limits=BENCH_RATE_LIMITS)
        return write_config(
            target, resilience={}, rate_limits=BENCH_RATE_LIMITS, operations=operations
        )

    # --- measuring ----------------------------------------------------------------------------

    def measure(
        self,
        subject: Subject,
        scenario: Scenario,
        base_url: str,
        server_pid: int,
        paced_rps: float | None = None,
    ) -> Row:
        """Warm up, then one measured wrk run of `scenario` against `base_url`."""
        self.load(self._load(scenario, paced_rps), base_url, WARMUP_S)
        measured = self._measured_run(
            subject, scenario, base_url, server_pid, self.seconds, paced_rps
        )
        self._report(measured)
        return measured

    def measure_rounds(self, cells: Sequence[Cell], rounds: int) -> list[Row]:
        """Every cell measured in `rounds` turns, one after the other (each warmed up before
        its first): a machine that slows down for a while slows every server, not just the one
        measured then. A cell's row adds up its turns' requests and takes the median of their
        CPU per request and latencies (`results.combined`)."""
        turn_s = max(1, round(self.seconds / rounds))
        turns: list[list[Row]] = [[] for _ in cells]  # each cell's, in order
        for n in range(rounds):
            for cell, done in zip(cells, turns, strict=True):
                if n == 0:
                    self.load(self._load(cell.scenario, cell.paced_rps), cell.base_url, WARMUP_S)
                done.append(
                    self._measured_run(
                        cell.subject, cell.scenario, cell.base_url, cell.pid, turn_s, cell.paced_rps
                    )
                )
            print(f"bench: round {n + 1} of {rounds} done", file=sys.stderr)
        measured = [results.combined(done) for done in turns]
        for row in measured:
            self._report(row)
        return measured

    def _load(self, scenario: Scenario, paced_rps: float | None) -> Load:
        load = scenario.load
        if paced_rps is None:
            return load
        return Load(
            load.method, load.path, load.headers, load.body, delay_ms=self._delay(paced_rps)
        )

    def _measured_run(
        self,
        subject: Subject,
        scenario: Scenario,
        base_url: str,
        server_pid: int,
        seconds: int,
        paced_rps: float | None = None,
    ) -> Row:
        server, simulator = CpuMeter(server_pid), CpuMeter(self.cloud_pid)
        redis = CpuMeter(self.redis_pid) if self.redis_pid and subject.store == REDIS else None
        before = self._simulator_stats()
        for meter in (server, simulator, redis):
            if meter is not None:
                meter.start()
        result = self.load(self._load(scenario, paced_rps), base_url, seconds)
        server_s, simulator_s = server.stop(), simulator.stop()
        redis_s = redis.stop() if redis is not None else None
        after = self._simulator_stats()
        n = max(result.requests, 1)
        return Row(
            server=subject.server,
            store=subject.store,
            workers=subject.workers,
            journal=subject.journal,
            scenario=scenario.name,
            connections=self.args.connections,
            seconds=result.seconds,
            requests=result.requests,
            errors=result.errors,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            p999_ms=result.p999_ms,
            server_cpu_ms=1000 * server_s / n,
            simulator_cpu_ms=1000 * simulator_s / n,
            redis_cpu_ms=None if redis_s is None else 1000 * redis_s / n,
            erp_calls=(after["requests"] - before["requests"]) / n,
            erp_connections_per_1000=1000 * (after["connections"] - before["connections"]) / n,
            pinning=self.pins.words,
            paced_rps=paced_rps,
        )

    def _report(self, measured: Row) -> None:
        self.run.rows.append(measured)
        errors = f", errors {measured.errors}" if measured.errors else ""
        print(
            f"bench: {measured.label}: {measured.scenario_label}: {measured.rps:.0f} req/s, "
            f"p99 {measured.p99_ms:.1f} ms, {measured.server_cpu_ms:.3f} ms CPU/req{errors}",
            file=sys.stderr,
        )

    def _delay(self, rps: float) -> float:
        # Each connection waits this long before each request: together about `rps` a second
        # (a little less, by the time each answer takes).
        return 1000.0 * int(self.args.connections) / rps

    def load(self, load: Load, base_url: str, seconds: int) -> WrkResult:
        self._scripts += 1
        script = self.work / f"load-{self._scripts}.lua"
        # A fresh prefix for each wrk run: its keys and references are used by no other.
        script.write_text(lua_script(load, f"{uuid.uuid4().hex[:8]}-"))
        return run_wrk(
            [*self.pins.load, *self.wrk],
            base_url,
            script,
            seconds=seconds,
            connections=self.args.connections,
        )

    def _simulator_stats(self) -> dict[str, int]:
        stats: dict[str, int] = httpx.get(f"{self.cloud_url}/_sim/stats", timeout=10).json()
        return stats

    # --- servers under test -------------------------------------------------------------------

    @contextlib.contextmanager
    def gateway(self, store: str, workers: int, journal: bool = True) -> Iterator[tuple[str, int]]:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = self.config_dir if journal else self._config(JOURNAL_OFF)
        env = {**self.env, "GATEWAY_CONFIG_DIR": str(config)}
        env["GATEWAY_REDIS_URL"] = self.redis_url if store == REDIS else ""
        pin = self.pins.both if workers > 1 else self.pins.server
        serve = [PYTHON, "-m", "gateway.cli", "serve", "--port", str(port)]
        serve += ["--workers", str(workers)]
        with run_process([*pin, *serve], base + "/readyz", env=env, expect=200) as process:
            yield base, process.pid

    @contextlib.contextmanager
    def bare_proxy(self) -> Iterator[tuple[str, int]]:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [PYTHON, "-m", "bench.bare_proxy", "--port", str(port)]
        command += ["--upstream", self.cloud_url]
        with run_process([*self.pins.server, *command], base + "/_sim/stats", expect=200) as p:
            yield base, p.pid

    @contextlib.contextmanager
    def nginx(self, nginx: str) -> Iterator[tuple[str, int]]:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        directory = Path(tempfile.mkdtemp(prefix="nginx-", dir=self.work))
        command = nginx_command(nginx, directory, port, int(self.cloud_url.rsplit(":", 1)[1]))
        with run_process([*self.pins.server, *command], base + "/_sim/stats", expect=200) as p:
            yield base, p.pid

    # --- fixtures -----------------------------------------------------------------------------

    def gateway_scenarios(self, base_url: str) -> list[Scenario]:
        """The gateway's scenarios, on a customer and an order created through it."""
        issuer = demo_issuer(load_config(self.config_dir, env=self.env).auth)
        token = mint_token(issuer, SECRET, CLIENT, SCOPES)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url, headers=auth, timeout=10) as client:
            answer = client.post(
                f"/{WRITE_VERSION}/customers", json=customer_body(WRITE_VERSION, "BENCH-SETUP")
            )
            customer = _created(answer)
            answer = client.post(
                f"/{WRITE_VERSION}/sales-orders",
                json=order_body(WRITE_VERSION, customer, "BENCH-SETUP"),
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            order = _created(answer)
        return gateway_scenarios(token, order, customer)

    def proxy_scenarios(self) -> list[Scenario]:
        """The proxies' scenarios, on a customer and an order created in the simulator."""
        config = load_config(self.config_dir, env=self.env)
        backend = config.backends[CLOUD]
        assert isinstance(backend, NetSuiteBackend), "backends/cloud.yaml is NetSuite's"
        credentials = netsuite_credentials(CLOUD, backend, self.env, self.config_dir)
        assert isinstance(credentials, ClientCredentials), (
            "backends/cloud.yaml logs in by OAuth 2.0"
        )
        token_url = self.cloud_url + backend.token_path
        form = token_request(credentials, token_url, int(time.time()))
        token = httpx.post(token_url, data=form, timeout=10).raise_for_status().json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        maps = NetSuiteMaps.from_config(backend.value_maps)
        reference = f"bench-{uuid.uuid4().hex[:8]}"

        def create(record_type: str, record: dict[str, Any]) -> str:
            body = _with(record, reference)
            answer = httpx.post(
                self.cloud_url + record_path(record_type), json=body, headers=auth, timeout=10
            )
            if answer.status_code != 204:
                raise RuntimeError(f"the simulator refused the setup {record_type}: {answer.text}")
            return answer.headers["location"].rsplit("/", 1)[1]

        customer = create(CUSTOMER, netsuite_customer(maps))
        order = create(SALES_ORDER, netsuite_order(maps, customer))
        return proxy_scenarios(token["access_token"], maps, order, customer)


def _created(answer: httpx.Response) -> str:
    if answer.status_code != 201:
        raise RuntimeError(
            f"the gateway refused a setup request: {answer.status_code} {answer.text}"
        )
    created: str = answer.json()["id"]
    return created


def _with(record: dict[str, Any], reference: str) -> dict[str, Any]:
    """`record` with UNIQUE replaced by `reference` wherever it stands."""
    replaced: dict[str, Any] = json.loads(json.dumps(record).replace(UNIQUE, reference))
    return replaced


@contextlib.contextmanager
def simulators(pin: Sequence[str] = ()) -> Iterator[tuple[str, int, str]]:
    """Both ERP simulators (the gateway's config names both), run under `pin` (a taskset
    prefix; none: unpinned); the cloud one's URL and pid."""
    legacy_port, cloud_port = free_port(), free_port()
    legacy, cloud = (f"http://127.0.0.1:{p}" for p in (legacy_port, cloud_port))

    def simulate(erp: str, port: int, url: str) -> contextlib.AbstractContextManager[Any]:
        command = [*pin, PYTHON, "-m", "gateway.cli", "simulate", erp, "--port", str(port)]
        return run_process(command, url + "/_sim/stats", expect=200)

    with simulate("legacy", legacy_port, legacy), simulate(CLOUD, cloud_port, cloud) as sim:
        yield cloud, sim.pid, legacy


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0))
    return f"{model}, {cores} cores, Python {platform.python_version()}"


def command_line(argv: list[str]) -> str:
    return "make bench" + (f' BENCH_ARGS="{" ".join(argv)}"' if argv else "")


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SECONDS} s a scenario instead of {SECONDS}"
    )
    parser.add_argument(
        "--seconds", type=int, help=f"a scenario's measured run (default {SECONDS})"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"turns each one-worker scenario's measured time is split into, interleaved with "
        f"the other servers' (default {ROUNDS}; {QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="wrk's connections")
    parser.add_argument(
        "--servers",
        default=f"{NGINX},{BARE_SERVER},{GATEWAY}",
        help="which servers to measure (default: all three: nginx,bare,gateway)",
    )
    parser.add_argument(
        "--stores", default=f"{MEMORY},{REDIS}", help="the gateway's stores (memory,redis)"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("GATEWAY_REDIS_URL", ""),
        help="a Redis to use (default: a private redis-server the bench starts, whose CPU it "
        "measures)",
    )
    parser.add_argument(
        "--skip-journal-cost", action="store_true", help="skip the creates with the journal off"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also record py-spy flame graphs of the gateway under the GET and POST loads",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where results go")
    parser.add_argument(
        "--update-readme", action="store_true", help="regenerate the README's Performance table"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _arguments(argv)
    servers = set(args.servers.split(","))
    stores = [s for s in (MEMORY, REDIS) if s in args.stores.split(",")]
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    notes: list[str] = []

    wrk = debian.ensure("wrk", "wrk")
    if wrk.path is None:
        print(f"bench: cannot run without wrk: {wrk.note}", file=sys.stderr)
        return 1
    taskset = debian.ensure("taskset", "util-linux")
    nginx = debian.ensure("nginx", "nginx") if NGINX in servers else None
    for tool in (wrk, taskset, nginx):
        if tool is not None and (tool.path is None or tool.installed):
            notes.append(tool.note)
    pins = Pins.for_machine(taskset.path)
    seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
    args.rounds = max(1, args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS))
    run = Run(
        machine=machine(),
        command=command_line(argv),
        date=now.strftime("%Y-%m-%d %H:%M UTC"),
        setup=(
            f"wrk (1 thread, {args.connections} connections) runs each scenario for {seconds} s "
            f"after a {WARMUP_S} s warm-up. The one-worker servers run side by side and are "
            f"measured in {args.rounds} interleaved rounds (each scenario's seconds split among "
            "them; a row adds up its rounds' requests, its CPU per request and latencies are "
            "the rounds' medians), so that the machine's slow and fast spells fall on every "
            "server alike. Then the gateway's and the bare proxy's paced GETs, in as many "
            f"rounds; then the two workers, once. {pins.words} The machine is shared with "
            "other work: its numbers are noisy, compare ratios within one run."
        ),
        notes=notes,
    )
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            redis_url, redis_pid = _redis(args, stores, notes, stack)
            cloud, cloud_pid, legacy = stack.enter_context(simulators())
            env = {
                **SIMULATOR_CREDENTIALS,
                "GATEWAY_DEMO_SECRET": SECRET,
                "GATEWAY_LEGACY_URL": legacy,
                "GATEWAY_CLOUD_URL": cloud,
            }
            bench = Bench(
                args, run, now.strftime("%Y-%m-%d-%H%M%S"), pins, [wrk.path], work, seconds,
                env, cloud, cloud_pid, redis_url, redis_pid,
            )  # fmt: skip
            _measure_all(bench, servers, stores, nginx.path if nginx else None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    notes.append(f"The whole run took {time.monotonic() - started:.0f} s.")
    _write(bench)
    return 0


def _redis(
    args: argparse.Namespace, stores: list[str], notes: list[str], stack: contextlib.ExitStack
) -> tuple[str, int | None]:
    """The Redis the gateway's Redis rows use, and its pid when the bench started it."""
    if REDIS not in stores:
        return "", None
    if args.redis_url:
        notes.append("Redis: the one --redis-url names; its CPU is not measured.")
        return args.redis_url, None
    if not redis_server_installed():
        stores.remove(REDIS)
        notes.append("Redis rows skipped: no --redis-url, and redis-server is not installed.")
        return "", None
    redis = stack.enter_context(RedisProcess())
    return redis.url, redis.pid


def _measure_all(bench: Bench, servers: set[str], stores: list[str], nginx: str | None) -> None:
    """The one-worker servers side by side, in interleaved rounds (their ratios are the
    targets); then the paced GETs at half the gateway's saturated rate; then two workers."""
    with contextlib.ExitStack() as running:
        cells: list[Cell] = []

        def start(what: str, opened: Callable[[], list[Cell]]) -> None:
            found = _attempt(bench, what, opened)
            cells.extend(found or [])

        def gateway(store: str, journal: bool = True) -> list[Cell]:
            subject = Subject(GATEWAY, store, 1, journal)
            base, pid = running.enter_context(bench.gateway(store, 1, journal))
            scenarios = bench.gateway_scenarios(base)
            if not journal:  # only the create: what the journal costs it
                scenarios = [s for s in scenarios if s.name == POST_ORDER]
            return [Cell(subject, scenario, base, pid) for scenario in scenarios]

        def proxy(server: str) -> list[Cell]:
            opened = bench.nginx(nginx or "") if server == NGINX else bench.bare_proxy()
            base, pid = running.enter_context(opened)
            return [Cell(Subject(server), s, base, pid) for s in bench.proxy_scenarios()]

        for store in stores if GATEWAY in servers else []:
            start(f"the gateway ({store})", functools.partial(gateway, store))
        if BARE_SERVER in servers:
            start("the bare proxy", functools.partial(proxy, BARE))
        if nginx is not None:
            start("nginx", functools.partial(proxy, NGINX))
        for store in stores if GATEWAY in servers and not bench.args.skip_journal_cost else []:
            start(f"the gateway ({store}, journal off)", functools.partial(gateway, store, False))
        rows = _attempt(
            bench, "the side-by-side rounds", lambda: bench.measure_rounds(cells, bench.args.rounds)
        )
        gateway_get = next(
            (
                (row, cell)
                for row, cell in zip(rows or [], cells, strict=False)
                if row.server == GATEWAY and row.store == MEMORY and row.scenario == GET_V2
            ),
            None,
        )
        if gateway_get is not None:
            # At half the gateway's saturated rate, the gateway and the bare proxy in
            # interleaved rounds too: a p99 moves with the machine's spells more than a CPU
            # figure does.
            half = HALF * gateway_get[0].rps
            paced = [gateway_get[1]]
            paced += [c for c in cells if c.subject.server == BARE and c.scenario.name == GET]
            _attempt(
                bench,
                "the paced GETs",
                lambda: bench.measure_rounds(
                    [replace(cell, paced_rps=half) for cell in paced], bench.args.rounds
                ),
            )
    if GATEWAY in servers and REDIS in stores:
        _attempt(
            bench,
            "the gateway (redis, 2 workers)",
            functools.partial(_gateway_rows, bench, REDIS, 2),
        )
    if bench.args.profile and GATEWAY in servers:
        _attempt(bench, "the profile", lambda: _profile(bench, servers))


T = TypeVar("T")


def _attempt(bench: Bench, what: str, rows: Callable[[], T]) -> T | None:
    """`rows()`; if it fails, the run goes on without them and its report says why."""
    try:
        return rows()
    except Exception as exc:  # a server that would not start, a tool that failed: reported
        note = f"{what} skipped: {type(exc).__name__}: {str(exc).strip()[-600:]}"
        bench.run.notes.append(note)
        print(f"bench: {note}", file=sys.stderr)
        return None


def _gateway_rows(bench: Bench, store: str, workers: int) -> None:
    """The gateway's scenarios, each measured once."""
    subject = Subject(GATEWAY, store, workers)
    with bench.gateway(store, workers) as (base, pid):
        for scenario in bench.gateway_scenarios(base):
            bench.measure(subject, scenario, base, pid)


def _profile(bench: Bench, servers: set[str]) -> None:
    """The gateway (memory store, one worker) sampled under PROFILED's loads, and the bare
    proxy under the loads it is compared with, one after the other."""
    executable = profiler.py_spy()
    if executable is None:
        bench.run.notes.append("No profile: py-spy is not installed (`make install`).")
        return
    with bench.gateway(MEMORY, 1) as (base, pid):
        for scenario in bench.gateway_scenarios(base):
            if scenario.name in PROFILED:
                _sample(bench, executable, GATEWAY, scenario, base, pid)
    if BARE_SERVER in servers:
        compared = {REFERENCE[name] for name in PROFILED}
        with bench.bare_proxy() as (base, pid):
            for scenario in bench.proxy_scenarios():
                if scenario.name in compared:
                    _sample(bench, executable, BARE, scenario, base, pid)


def _sample(
    bench: Bench, executable: str, server: str, scenario: Scenario, base: str, pid: int
) -> None:
    """One server sampled by py-spy under one scenario's load, and the CPU per request it
    spent meanwhile."""
    bench.load(scenario.load, base, WARMUP_S)
    svg = bench.args.results / f"{bench.stamp}-{_slug(server)}-{_slug(scenario.name)}.svg"
    title = f"{server}{', memory store, 1 worker' if server == GATEWAY else ''}: {scenario.name}"
    meter = CpuMeter(pid)
    cpu_ms: list[float] = []

    def load() -> object:
        meter.start()
        served = bench.load(scenario.load, base, bench.seconds)
        cpu_ms.append(1000 * meter.stop() / max(served.requests, 1))
        return served

    bench.args.results.mkdir(parents=True, exist_ok=True)
    found = profiler.profile(executable, pid, bench.seconds, load, svg, title)
    shown = svg.relative_to(REPO) if svg.is_relative_to(REPO) else svg
    bench.run.profiles.append(
        Profiled(
            server, scenario.name, str(shown), found.samples, found.top, found.parts, cpu_ms[0]
        )
    )
    print(f"bench: profile of the {server} under {scenario.name} ({found.samples} samples): {svg}")
    for name, count in found.top:
        print(f"  {100 * count / max(found.samples, 1):5.1f}%  {count:6d}  {name}")


def _slug(text: str) -> str:
    return "-".join(text.lower().split())


def _write(bench: Bench) -> None:
    run, args, stamp = bench.run, bench.args, bench.stamp
    order = {NGINX: 0, BARE: 1, GATEWAY: 2}
    scenarios = {name: i for i, name in enumerate((*PROXY_SCENARIOS, *GATEWAY_SCENARIOS))}
    run.rows.sort(
        key=lambda r: (
            order[r.server], r.store != MEMORY, r.workers, not r.journal,
            scenarios[r.scenario], r.paced_rps is not None,
        )
    )  # fmt: skip
    args.results.mkdir(parents=True, exist_ok=True)
    report = results.markdown(run)
    (args.results / f"{stamp}.json").write_text(results.json_lines(run))
    (args.results / f"{stamp}.md").write_text(report)
    print(report)
    print(f"bench: results in {args.results / stamp}.md and .json", file=sys.stderr)
    if args.update_readme:
        results.update_readme(REPO / "README.md", report)
        print("bench: README.md's Performance table regenerated", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

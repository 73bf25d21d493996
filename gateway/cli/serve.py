"""`gateway serve`: the gateway under uvicorn (uvloop, httptools), one or more workers; and
what serving needs that `gateway demo` shares: the server's limits, the listening socket, the
checks of credentials and issuers before any worker starts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from starlette.applications import Starlette

from gateway import MULTIPROC_DIR_ENV, configuration
from gateway.app import build_app
from gateway.cli.arguments import add_config_dir, at_least, listen_host, port, seconds
from gateway.cli.base import (
    CONFIG_DIR_ENV,
    REDIS_URL_ENV,
    CommandError,
    config_dir,
    load,
    log_level,
)
from gateway.cli.credentials import require_credentials
from gateway.cli.listening import listen
from gateway.config.issues import ConfigError
from gateway.config.loader import GatewayConfig, config_version
from gateway.demo import DEMO_SECRET_ENV
from gateway.observability.client_address import (
    FORWARDED_ALLOW_IPS_ENV,
    LOOPBACK_PROXIES,
    trusted_proxies,
)
from gateway.observability.logging import configure_logging
from gateway.observability.spans import telemetry_from_env
from gateway.pipeline.auth import build_authenticator
from gateway.runtime import build_runtime
from gateway.server import (
    CONFIG_REFUSED,
    DRAIN_S,
    GatewayServerConfig,
    ServerLimits,
    StartupFailed,
    run,
)
from gateway.sockets import host_port, http_url
from gateway.store.opening import open_store, store_description

LIMITS_ENV = "GATEWAY_SERVER_LIMITS"
# Workers beyond this many per CPU only share the CPUs out thinner: more is taken for a typo.
WORKERS_PER_CPU = 4


def arguments(parser: argparse.ArgumentParser) -> None:
    add_config_dir(parser)
    parser.add_argument(
        "--host",
        type=listen_host,
        default="127.0.0.1",
        help="the address to listen on (an IPv6 address with or without brackets)",
    )
    parser.add_argument("--port", type=port, default=8080, help="the port to listen on")
    parser.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help=f"worker processes, about one per CPU (more than 1 needs {REDIS_URL_ENV}; at "
        f"most {WORKERS_PER_CPU} per CPU)",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="the proxies whose X-Forwarded-For names the client (its address is then the "
        "one logged): comma-separated IP addresses and networks, '' none "
        f"(default: ${FORWARDED_ALLOW_IPS_ENV}, else {','.join(LOOPBACK_PROXIES)})",
    )
    parser.add_argument(
        "--drain-timeout",
        type=seconds,
        default=DRAIN_S,
        metavar="S",
        help="on SIGTERM or SIGINT, seconds to finish the requests in flight before they are "
        "cut off, answered 503 gateway_busy to be retried (keep it below the grace your "
        "orchestrator gives before SIGKILL)",
    )
    add_limits(parser)
    parser.set_defaults(func=serve)


def _workers(value: str) -> int:
    """A number of workers this host can run: a typo (100000 for 10) would fork worker after
    worker until the host ran out of memory."""
    count = at_least(1)(value)
    cpus = len(os.sched_getaffinity(0))  # the CPUs this process may run on
    if count > WORKERS_PER_CPU * cpus:
        raise argparse.ArgumentTypeError(
            f"{count} is more than {cpus} CPU(s) can run; give at most "
            f"{WORKERS_PER_CPU * cpus} ({WORKERS_PER_CPU} per CPU; one per CPU serves best)"
        )
    return count


def add_limits(parser: argparse.ArgumentParser) -> None:
    defaults = ServerLimits()
    group = parser.add_argument_group("limits per request and connection")
    group.add_argument(
        "--header-timeout", type=seconds, default=defaults.head_timeout_s, metavar="S",
        help="seconds for a request's headers to arrive (then 408 and close)",
    )  # fmt: skip
    group.add_argument(
        "--body-timeout", type=seconds, default=defaults.body_timeout_s, metavar="S",
        help="seconds for a request's body to arrive, first byte to last (then 408 and close)",
    )  # fmt: skip
    group.add_argument(
        "--keepalive-timeout", type=seconds, default=defaults.keepalive_timeout_s, metavar="S",
        help="seconds an idle connection stays open between requests",
    )  # fmt: skip
    group.add_argument(
        "--max-header-bytes", type=at_least(1024), default=defaults.max_head_bytes, metavar="N",
        help="bytes of request line and headers together (then 431)",
    )  # fmt: skip
    group.add_argument(
        "--max-headers", type=at_least(1), default=defaults.max_headers, metavar="N",
        help="header fields per request (then 431)",
    )  # fmt: skip
    group.add_argument(
        "--max-connections", type=at_least(1), default=defaults.max_connections, metavar="N",
        help="open connections per worker (then 503 gateway_busy and close)",
    )  # fmt: skip


def limits(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(
        head_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        keepalive_timeout_s=args.keepalive_timeout,
        max_head_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
        max_connections=args.max_connections,
    )


def _limits_from_env() -> ServerLimits:
    raw = os.environ.get(LIMITS_ENV)
    return ServerLimits(**json.loads(raw)) if raw else ServerLimits()


def create_app() -> Starlette:
    """The app `gateway serve` runs, from the environment (a factory: one per worker)."""
    configure_logging(log_level())
    directory = config_dir(None)
    try:
        config = configuration.load(directory, serving=True)
    except ConfigError as exc:
        # `gateway serve` checked the files before it started any worker: this is a worker
        # started again (after a crash) while they cannot be loaded. Said in a line, not a
        # traceback; its supervisor starts it again once they change (or after a wait).
        logging.getLogger("gateway.server").error(
            "a worker cannot start, its configuration is refused: %s", exc
        )
        raise SystemExit(CONFIG_REFUSED) from None
    store = open_store(os.environ.get(REDIS_URL_ENV))
    # GATEWAY_CONFIG_POLL=0 turns the file watcher off (reloads then come by SIGHUP or the
    # admin endpoint only, e.g. where a deployment tool signals each change).
    watch = os.environ.get("GATEWAY_CONFIG_POLL", "1") != "0"
    return build_app(
        build_runtime(config, store),
        config_dir=directory,
        watch_config=watch,
        telemetry=telemetry_from_env(os.environ),
        body_timeout_s=_limits_from_env().body_timeout_s,
    )


def _issuers_off(config: GatewayConfig, env: Mapping[str, str]) -> list[str]:
    """What to say of each issuer other than the demo one that is off (its secret unset: each
    of its tokens refused); a CommandError for an HMAC secret anyone could know or guess. Said
    before any worker starts."""
    try:
        trusted = build_authenticator(config.auth, config.config_dir, env).issuers
    except ConfigError as exc:
        raise CommandError("\n".join(str(issue) for issue in exc.issues)) from None
    return [
        f"issuer {issuer.name} is off, its tokens refused (401): {issuer.secret_env} is unset"
        for issuer in config.auth.issuers
        if issuer.issuer not in trusted and not issuer.demo  # the demo's: see the banner
    ]


def _trusted_proxies(given: str | None, env: Mapping[str, str]) -> tuple[str, ...]:
    """The proxies `--forwarded-allow-ips` names, else the environment's, else loopback; a
    CommandError naming where a bad one was given."""
    source, text = "--forwarded-allow-ips", given
    if text is None:
        source, text = FORWARDED_ALLOW_IPS_ENV, env.get(FORWARDED_ALLOW_IPS_ENV)
    if text is None:
        return LOOPBACK_PROXIES
    try:
        return trusted_proxies(text)
    except ValueError as exc:
        raise CommandError(
            f"{source}: {exc}; give IP addresses and networks, comma-separated"
        ) from None


def _trust_said(proxies: tuple[str, ...]) -> str:
    return ", ".join(proxies) or "no peer"


def serve(args: argparse.Namespace) -> int:
    level = log_level()  # here, not in a worker that would fail, be started again, and fail
    if args.config_dir:
        os.environ[CONFIG_DIR_ENV] = args.config_dir
    redis_url = os.environ.get(REDIS_URL_ENV)
    if args.workers > 1 and not redis_url:
        raise CommandError(
            f"--workers {args.workers} needs a shared store: set {REDIS_URL_ENV}. The memory "
            "store lives inside one process,\nso each worker would see only its own ID "
            "cross-references, idempotency keys and rate limits."
        )
    proxies = _trusted_proxies(args.forwarded_allow_ips, os.environ)
    directory = config_dir(None)
    config = load(directory)  # fail fast, with file and line, before forking workers
    require_credentials(config, os.environ)
    off = _issuers_off(config, os.environ)
    try:
        store = store_description(redis_url)
    except ValueError as exc:
        raise CommandError(f"{REDIS_URL_ENV}: {exc}") from None
    server_limits = limits(args)
    os.environ[LIMITS_ENV] = json.dumps(dataclasses.asdict(server_limits))
    sock = listen(args.host, args.port, f"gateway serve --port {args.port + 1}", args.workers)
    trusted = (
        "trusted" if os.environ.get(DEMO_SECRET_ENV) else f"not trusted ({DEMO_SECRET_ENV} unset)"
    )
    backends = ", ".join(
        f"{n} ({b.kind}, {b.base_url})" for n, b in sorted(config.backends.items())
    )
    workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    print(
        f"gateway serve: {http_url(args.host, args.port)} ({workers}); store: {store}\n"
        f"  backends: {backends}; demo issuer: {trusted}\n"
        f"  X-Forwarded-For trusted from: {_trust_said(proxies)}",
        *(f"gateway serve: warning: {said}" for said in off),
        sep="\n",
        file=sys.stderr,
    )
    metrics_dir = _metrics_dir(args.workers)
    server_config = GatewayServerConfig(
        f"{__name__}:{create_app.__name__}",
        limits=server_limits,
        trusted_proxies=proxies,
        factory=True,
        workers=args.workers,
        loop="uvloop",
        log_level="warning",
        access_log=False,  # the gateway writes its own JSON access log with correlation ids
        timeout_graceful_shutdown=args.drain_timeout,
    )
    # This process's lines (uvicorn's as it starts; with several workers, the supervisor's: a
    # worker died, waits) as the workers' (each configures its own in `create_app`).
    configure_logging(level)
    try:
        run(server_config, sock, files_version=lambda: config_version(directory))
    except StartupFailed:
        raise CommandError(
            f"the gateway stopped before it served on {host_port(args.host, args.port)}; the "
            "lines above say why."
        ) from None
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _metrics_dir(workers: int) -> str | None:
    """For several workers, a directory where each writes its metrics, so that /metrics adds
    them up whichever worker answers (prometheus_client's multiprocess mode). One the operator
    set is used as it is (it must be empty at start); else a fresh one, removed at exit."""
    if workers < 2:
        return None
    given = os.environ.get(MULTIPROC_DIR_ENV)
    if given:
        if not Path(given).is_dir():
            raise CommandError(f"{MULTIPROC_DIR_ENV}={given} is not a directory")
        mine = f"_{os.getpid()}.db"  # what this command's own metrics wrote there at start
        if any(not f.name.endswith(mine) for f in Path(given).glob("*.db")):
            raise CommandError(
                f"{MULTIPROC_DIR_ENV}={given} holds an earlier run's metrics; empty it first"
            )
        return None
    created = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = created
    return created

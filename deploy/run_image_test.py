"""Build the gateway's image and run it: `make image-test` (and `make image`, `--build-only`).

Each step says what it does on one line:

1. engine: a running Docker engine is reused. Otherwise dockerd is started here (after
   installing Debian's docker.io with apt-get if it is missing), with no bridge and no iptables
   rules (every container of this test uses the host's network), and stopped again at the end.
2. base: BASE_IMAGE (python:3.11-slim by default) if the engine has it or can pull it; else a
   local Debian bookworm base (python3, python3-venv), made once with debootstrap from the
   Debian mirror apt uses here, imported as LOCAL_BASE and reused from then on.
3. wheelhouse: the project's wheel and its locked dependencies for the base's Python
   (deploy/wheelhouse.py).
4. image: `docker build --network none`: nothing is pulled or downloaded during the build.
5. run (not with --build-only): an empty Redis database (database 14 of the host's Redis on
   127.0.0.1:6379, else a private redis-server), both simulators and the gateway (2 workers, the
   image's own CMD) from the image on the host network and free ports; the image's user and
   configuration; /readyz and the health check; the /ops dashboard's page and assets (package
   data the wheel must carry); a customer and a sales order on each ERP, the
   idempotent replay and the read-back; then SIGTERM with a slow request in flight, which must
   complete before the gateway exits 0. And, when a compose is installed, `compose config` on
   deploy/compose.yaml.

Containers are removed whatever happens; so are a dockerd and a redis-server started here.

Exit status: 0 all passed; 1 a step or check failed; 2 no Docker engine could be started;
3 there is no Docker engine and none can be installed here (no apt-get, or not root).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import redis

from gateway.demo import SIMULATOR_CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "erp-coexistence-gateway-base:bookworm"
DEFAULT_IMAGE = "erp-coexistence-gateway:local"
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = "python3,python3-venv,ca-certificates"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# No bridge, no NAT, no iptables rules, no IP forwarding: containers here use --network host.
DOCKERD_FLAGS = ("--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false")
DOCKERD_PIDFILE = Path("/var/run/docker.pid")
CONTAINERD_PIDFILE = Path("/var/run/docker/containerd/containerd.pid")
HOST_NETNS_MOUNT = "/run/docker/netns/default"
ENGINE_START_S = 60.0
BUILD_TIMEOUT_S = 900.0
READY_DEADLINE_S = 60.0
HEALTHY_DEADLINE_S = 30.0
# compose's stop_grace_period for the gateway: longer than its 30 s drain.
STOP_GRACE_S = 40.0
SLOW_ERP_MS = 3000
REDIS_DB = 14  # on the host's Redis, the image test's own database (make test uses 15)
LABEL = "erp-coexistence-gateway.image-test"
IMAGE_LABEL = "org.opencontainers.image.title=erp-coexistence-gateway"  # the Dockerfile's
# The simulators' accounts (gateway/demo.py SIMULATOR_CREDENTIALS, published, so no secrets):
# what backends/*.yaml name, the cloud ERP's certificate key included.
ERP_CREDENTIALS = {
    name: SIMULATOR_CREDENTIALS[name]
    for name in (
        "LEGACY_ERP_USER",
        "LEGACY_ERP_PASSWORD",
        "CLOUD_ERP_CLIENT_ID",
        "CLOUD_ERP_CERTIFICATE_ID",
        "CLOUD_ERP_PRIVATE_KEY",
    )
}
EXIT_FAILED, EXIT_NO_ENGINE, EXIT_NO_INSTALL = 1, 2, 3


class Failure(Exception):
    """A step or check failed: the message says which and why."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"image-test [{time.monotonic() - STARTED:4.0f} s] {message}", flush=True)


def check(condition: bool, what: str, detail: object = "") -> None:
    if not condition:
        raise Failure(f"check failed: {what}" + (f": {detail}" if detail != "" else ""))
    say(f"ok: {what}")


def run(
    args: Sequence[str],
    *,
    timeout: float = 120.0,
    check_rc: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise Failure(f"`{' '.join(args)}` took more than {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise Failure(f"`{args[0]}` is not installed") from exc
    if check_rc and result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise Failure(f"`{' '.join(args[:4])} ...` exited {result.returncode}:\n" + "\n".join(tail))
    return result


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_pings(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.settimeout(0.5)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- 1. the engine ---------------------------------------------------------------------------


def engine_version() -> str | None:
    if shutil.which("docker") is None:
        return None
    try:
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def install_with_apt(packages: Sequence[str], why: str) -> None:
    """apt-get install, or stop with EXIT_NO_INSTALL saying why it cannot be done here."""
    if shutil.which("apt-get") is None:
        raise Failure(f"{why}, and there is no apt-get here to install it", EXIT_NO_INSTALL)
    if os.geteuid() != 0:
        raise Failure(f"{why}, and only root can install it (apt-get)", EXIT_NO_INSTALL)
    say(f"installing {' '.join(packages)} with apt-get ({why})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if run(install, timeout=600, check_rc=False, env=env).returncode != 0:
        run(["apt-get", "update", "-qq"], timeout=600, check_rc=False, env=env)
        result = run(install, timeout=600, check_rc=False, env=env)
        if result.returncode != 0:
            raise Failure(
                f"apt-get could not install {' '.join(packages)}: "
                + last_line(result.stderr or result.stdout),
                EXIT_NO_INSTALL,
            )


def remove_stale_pidfile(path: Path, command: str) -> None:
    """A pid file left by a killed daemon, naming a pid now used by another program, would make
    dockerd refuse to start (or signal that program): remove it."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        comm = ""
    if comm != command:
        path.unlink(missing_ok=True)


class Engine:
    """The Docker engine: the running one, or a dockerd started (and later stopped) here."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.gettempdir()) / "erp-gateway-image-test-dockerd.log"

    def ensure(self) -> None:
        version = engine_version()
        if version:
            say(f"engine: reusing the running Docker engine {version}")
            return
        if shutil.which("dockerd") is None:
            install_with_apt(["docker.io"], "no Docker engine is running and dockerd is missing")
        if os.geteuid() != 0:
            raise Failure("engine: no Docker engine is running, and only root can start dockerd")
        self.log_path.unlink(missing_ok=True)
        for flags in (DOCKERD_FLAGS, (*DOCKERD_FLAGS, "--storage-driver=vfs")):
            if self._start(flags):
                return
        raise Failure(
            f"engine: dockerd did not start (log: {self.log_path}):\n" + self._log_tail(),
            EXIT_NO_ENGINE,
        )

    def _start(self, flags: Sequence[str]) -> bool:
        remove_stale_pidfile(DOCKERD_PIDFILE, "dockerd")
        remove_stale_pidfile(CONTAINERD_PIDFILE, "containerd")
        say(f"engine: starting dockerd {' '.join(flags)} (log: {self.log_path})")
        with self.log_path.open("ab") as log:
            # Its own session: a Ctrl-C on make reaches this script, which cleans up first.
            self.proc = subprocess.Popen(
                ["dockerd", *flags],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + ENGINE_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                say(f"engine: dockerd exited {self.proc.returncode}: {last_line(self._log_tail())}")
                self.proc = None
                return False
            version = engine_version()
            if version:
                say(f"engine: dockerd {version} is up (pid {self.proc.pid})")
                return True
            time.sleep(0.5)
        say(f"engine: dockerd did not answer within {ENGINE_START_S:.0f} s")
        self.stop()
        return False

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        say(f"engine: stopping the dockerd started here (pid {self.proc.pid})")
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        # dockerd leaves the host network's namespace mounted here; nothing else uses it.
        if os.path.ismount(HOST_NETNS_MOUNT):
            run(["umount", HOST_NETNS_MOUNT], check_rc=False)


# --- 2. the base -----------------------------------------------------------------------------


def image_id(ref: str) -> str | None:
    result = run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], check_rc=False)
    return result.stdout.strip() if result.returncode == 0 else None


def apt_mirror() -> str:
    """The Debian mirror apt uses here (deb822 or one-line sources), for debootstrap."""
    override = os.environ.get("DEBIAN_MIRROR")
    if override:
        return override
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for stanza in path.read_text(errors="replace").split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith((" ", "#")):
                    fields[key.strip().lower()] = value.strip()
            if DEBIAN_SUITE in fields.get("suites", "").split() and fields.get("uris"):
                return fields["uris"].split()[0]
    one_line = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]
    for path in one_line:
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                parts = [p for p in line.split() if not p.startswith("[")]
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == DEBIAN_SUITE:
                    return parts[1]
    return DEFAULT_MIRROR


def build_local_base(tag: str) -> None:
    if shutil.which("debootstrap") is None:
        install_with_apt(["debootstrap"], "debootstrap is needed to build the local base")
    mirror = apt_mirror()
    say(f"base: building {tag} with debootstrap ({DEBIAN_SUITE}, {DEBIAN_PACKAGES}, {mirror})")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="erp-gateway-base-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={DEBIAN_PACKAGES}",
                DEBIAN_SUITE,
                str(rootfs),
                mirror,
            ],
            timeout=1200,
        )
        # What the official Debian images leave out too: downloaded packages and indexes.
        for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftovers).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "--change", 'CMD ["python3"]', "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        if tar.stdout is not None:
            tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise Failure(f"base: docker import failed: {imported.stderr.strip()}")
    say(f"base: {tag} built in {time.monotonic() - started:.0f} s")


def ensure_base(requested: str, local_tag: str) -> str:
    if image_id(requested):
        say(f"base: using {requested} (already in the engine)")
        return requested
    pulled = run(["docker", "pull", "--quiet", requested], timeout=600, check_rc=False)
    if pulled.returncode == 0:
        say(f"base: pulled {requested}")
        return requested
    reason = last_line(pulled.stderr or pulled.stdout)
    say(f"base: {requested} cannot be pulled here ({reason}); using a local base instead")
    if image_id(local_tag):
        say(f"base: reusing {local_tag} (delete it to rebuild: docker rmi {local_tag})")
    else:
        build_local_base(local_tag)
    return local_tag


def base_python(base: str) -> tuple[str, str, str]:
    """The base's CPython version, glibc version and architecture."""
    probe = (
        "import platform, sys; "
        "print('%d.%d.%d' % sys.version_info[:3], platform.libc_ver()[1], platform.machine())"
    )
    out = run(["docker", "run", "--rm", "--network", "none", base, "python3", "-c", probe]).stdout
    version, glibc, arch = out.split()
    return version, glibc, arch


# --- 3 and 4. the wheelhouse and the image ---------------------------------------------------


def build_image(base: str, tag: str) -> None:
    version, glibc, arch = base_python(base)
    say(f"wheelhouse: for {base}: CPython {version}, glibc {glibc}, {arch}")
    result = run(
        [
            sys.executable,
            str(ROOT / "deploy" / "wheelhouse.py"),
            f"--python-version={version}",
            f"--glibc={glibc}",
            f"--arch={arch}",
        ],
        timeout=600,
    )
    say(last_line(result.stdout))
    started = time.monotonic()
    log = Path(tempfile.gettempdir()) / "erp-gateway-image-build.log"
    log.unlink(missing_ok=True)
    say(f"image: docker build --network none --build-arg BASE_IMAGE={base} -t {tag} (log: {log})")
    # The install stage first, under a tag of its own: it stays the cache of the next build,
    # and every untagged image of this Dockerfile can then go (an earlier build's).
    docker_build(base, f"{tag}-install", log, "--target", "install")
    docker_build(base, tag, log)
    size = run(["docker", "image", "inspect", "--format", "{{.Size}}", tag]).stdout.strip()
    elapsed = time.monotonic() - started
    say(f"image: built {tag} ({int(size) / 1e6:.0f} MB) in {elapsed:.0f} s")
    run(["docker", "image", "prune", "--force", "--filter", f"label={IMAGE_LABEL}"])


def docker_build(base: str, tag: str, log: Path, *args: str) -> None:
    build_args = ["--network", "none", "--build-arg", f"BASE_IMAGE={base}", "--tag", tag, *args]
    # The classic builder unless told otherwise: BuildKit needs the buildx plugin.
    env = {**os.environ, "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0")}
    with log.open("a") as out:
        build = subprocess.run(
            ["docker", "build", *build_args, str(ROOT)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    if build.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise Failure(f"image: docker build failed (exit {build.returncode}):\n{tail}")


# --- 5. the run ------------------------------------------------------------------------------


class Containers:
    """Containers started by this run, all labelled with its pid; removed at the end."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.prefix = f"erp-gw-image-test-{os.getpid()}"
        self.names: list[str] = []

    def remove_leftovers(self) -> None:
        """Containers of an earlier run of this test that did not clean up (it was killed)."""
        owner = '{{.ID}} {{.Label "' + LABEL + '"}}'
        listed = run(
            ["docker", "ps", "--all", "--filter", f"label={LABEL}", "--format", owner],
            check_rc=False,
        )
        stale = [
            cid
            for cid, _, owner in (line.partition(" ") for line in listed.stdout.splitlines())
            if owner.isdigit() and not pid_alive(int(owner))
        ]
        if stale:
            say(f"run: removing {len(stale)} container(s) left by an earlier run")
            run(["docker", "rm", "--force", *stale], check_rc=False)

    def start(self, role: str, docker_args: Sequence[str], command: Sequence[str] = ()) -> str:
        name = f"{self.prefix}-{role}"
        run(
            [
                "docker",
                "run",
                "--detach",
                "--name",
                name,
                "--label",
                f"{LABEL}={os.getpid()}",
                "--network",
                "host",
                *docker_args,
                self.image,
                *command,
            ]
        )
        self.names.append(name)
        return name

    def one_off(self, *command: str, env: dict[str, str] | None = None) -> str:
        env_args = [arg for k, v in (env or {}).items() for arg in ("--env", f"{k}={v}")]
        docker = ["docker", "run", "--rm", "--network", "none", *env_args, self.image]
        return run([*docker, *command]).stdout.strip()

    def state(self, name: str) -> dict[str, Any]:
        out = run(["docker", "inspect", "--format", "{{json .State}}", name]).stdout
        state: dict[str, Any] = json.loads(out)
        return state

    def logs(self, name: str, lines: int = 30) -> str:
        result = run(["docker", "logs", "--tail", str(lines), name], check_rc=False)
        return (result.stdout + result.stderr).strip()

    def remove_all(self) -> None:
        if self.names:
            run(["docker", "rm", "--force", *self.names], check_rc=False, timeout=60)
            say(f"run: removed {len(self.names)} container(s)")
            self.names.clear()


def emptied(url: str) -> str:
    """The simulators start empty and number their documents from 1 again, while the gateway
    maps each ERP document to its gateway id for good: the store must start empty too."""
    with redis.Redis.from_url(url, socket_timeout=5) as client:
        client.flushdb()
    return url


@contextlib.contextmanager
def redis_for_test() -> Iterator[str]:
    """An empty Redis database: IMAGE_TEST_REDIS_URL's, database 14 of the host's Redis, or a
    private redis-server's."""
    url = os.environ.get("IMAGE_TEST_REDIS_URL")
    if url:
        say(f"redis: using IMAGE_TEST_REDIS_URL ({url}), emptied first")
        yield emptied(url)
        return
    if redis_pings("127.0.0.1", 6379):
        say(f"redis: using the Redis on 127.0.0.1:6379, database {REDIS_DB}, emptied first")
        yield emptied(f"redis://127.0.0.1:6379/{REDIS_DB}")
        return
    executable = shutil.which("redis-server")
    if executable is None:
        raise Failure(
            "redis: none on 127.0.0.1:6379 and no redis-server to start "
            "(apt-get install redis-server, or set IMAGE_TEST_REDIS_URL)"
        )
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="erp-gateway-redis-") as tmp:
        proc = subprocess.Popen(
            [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 10
            while not redis_pings("127.0.0.1", port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise Failure(f"redis: redis-server did not start on port {port}")
                time.sleep(0.05)
            say(f"redis: started redis-server on 127.0.0.1:{port} (pid {proc.pid})")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            say("redis: stopped the redis-server started here")


def wait_until_ready(urls: Sequence[str], containers: Containers, names: Sequence[str]) -> float:
    """Seconds until every URL answers 200 (the simulators' stats, the gateway's /readyz)."""
    started = time.monotonic()
    pending = list(urls)
    while time.monotonic() - started < READY_DEADLINE_S:
        for name in names:
            if not containers.state(name).get("Running"):
                raise Failure(f"run: {name} stopped:\n{containers.logs(name)}")
        for url in list(pending):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url, timeout=2).status_code == 200:
                    pending.remove(url)
        if not pending:
            return time.monotonic() - started
        time.sleep(0.2)
    raise Failure(f"run: not 200 within {READY_DEADLINE_S:.0f} s: {', '.join(pending)}")


def wait_until_healthy(containers: Containers, name: str) -> float:
    started = time.monotonic()
    status = ""
    while time.monotonic() - started < HEALTHY_DEADLINE_S:
        status = (containers.state(name).get("Health") or {}).get("Status", "none")
        if status == "healthy":
            return time.monotonic() - started
        time.sleep(0.5)
    raise Failure(f"run: {name} is {status!r}, not healthy, after {HEALTHY_DEADLINE_S:.0f} s")


def customer_body(legal_entity: str, ref: str) -> dict[str, Any]:
    if legal_entity == "DE01":
        return {
            "external_ref": ref,
            "legal_entity": "DE01",
            "legal_name": "Muster GmbH",
            "tax_id": "DE123456789",
            "currency": "EUR",
            "payment_terms": "NET30",
            "credit_limit": "50000.00",
            "addresses": [
                {
                    "type": "billing",
                    "line1": "Hauptstr. 5",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                }
            ],
        }
    return {
        "external_ref": ref,
        "legal_entity": "US01",
        "legal_name": "Acme Corp",
        "tax_id": "US-12-3456789",
        "currency": "USD",
        "payment_terms": "NET30",
        "credit_limit": "50000.00",
        "addresses": [
            {
                "type": "billing",
                "line1": "1 Main St",
                "city": "Austin",
                "postal_code": "78701",
                "region": "TX",
                "country": "US",
            }
        ],
    }


def order_body(legal_entity: str, customer_id: str, ref: str) -> dict[str, Any]:
    currency, sku, price = ("EUR", "GADGET-2", "149.00")
    if legal_entity != "DE01":
        currency, sku, price = ("USD", "WIDGET-1", "19.99")
    return {
        "external_ref": ref,
        "legal_entity": legal_entity,
        "customer_id": customer_id,
        "currency": currency,
        "requested_delivery_date": "2026-12-15",
        "items": [
            {"product_id": sku, "quantity": 2, "price": {"amount": price, "currency": currency}}
        ],
    }


def order_end_to_end(client: httpx.Client, legal_entity: str, erp: str, run_id: str) -> str:
    """A customer and an order in one legal entity, replayed and read back: the order's id."""
    customer = client.post("/v2/customers", json=customer_body(legal_entity, f"IT-C-{run_id}"))
    check(
        customer.status_code == 201 and customer.json().get("id", "").startswith("cus_"),
        f"{legal_entity} customer created on the {erp} ERP (201)",
        f"{customer.status_code} {customer.text[:300]}",
    )
    body = order_body(legal_entity, customer.json()["id"], f"IT-O-{run_id}")
    key = {"Idempotency-Key": f"image-test-{legal_entity}-{run_id}"}
    created = client.post("/v2/sales-orders", json=body, headers=key)
    order: dict[str, Any] = created.json()
    check(
        created.status_code == 201 and bool(order.get("erp_reference")),
        f"{legal_entity} sales order created with an Idempotency-Key (201, "
        f"{order.get('id')}, ERP document {order.get('erp_reference')})",
        f"{created.status_code} {created.text[:300]}",
    )
    replay = client.post("/v2/sales-orders", json=body, headers=key)
    check(
        replay.status_code == 201
        and replay.headers.get("Idempotent-Replayed") == "true"
        and replay.content == created.content,
        f"{legal_entity} retry with the same key replays the first answer byte for byte",
        f"{replay.status_code} {dict(replay.headers)}",
    )
    read = client.get(f"/v2/sales-orders/{order['id']}")
    got: dict[str, Any] = read.json()
    check(
        read.status_code == 200
        and got.get("id") == order["id"]
        and got.get("legal_entity") == legal_entity
        and got.get("erp_reference") == order["erp_reference"]
        and [i.get("product_id") for i in got.get("items", [])] == [body["items"][0]["product_id"]]
        and got.get("net_amount", {}).get("currency") == body["currency"],
        f"{legal_entity} sales order read back by id (200, same id, document, items)",
        f"{read.status_code} {read.text[:300]}",
    )
    return str(order["id"])


def dashboard_served(client: httpx.Client) -> None:
    """The operations dashboard and every asset its page names: files the wheel carries as
    package data, missing from the image if pyproject.toml stopped naming them."""
    page = client.get("/ops")
    assets = re.findall(r'(?:src|href)="(/ops/assets/[^"]+)"', page.text)
    missing = [path for path in assets if client.get(path).status_code != 200]
    check(
        page.status_code == 200 and bool(assets) and not missing,
        f"the /ops dashboard and its {len(assets)} assets are served (200)",
        f"{page.status_code}; not served: {missing}",
    )


def drain(
    client: httpx.Client, containers: Containers, gateway: str, legacy_url: str, order_id: str
) -> None:
    """SIGTERM with a slow ERP call in flight: the call completes, then the gateway exits 0."""
    fault = {"mode": "latency", "latency_ms": SLOW_ERP_MS, "operations": ["sales_orders.read"]}
    set_fault = httpx.post(f"{legacy_url}/_sim/faults", json=fault, timeout=5)
    check(set_fault.status_code == 200, f"legacy ERP answers order reads {SLOW_ERP_MS} ms late")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        slow = pool.submit(client.get, f"/v2/sales-orders/{order_id}", timeout=STOP_GRACE_S)
        deadline = started + SLOW_ERP_MS / 1000
        while httpx.get(f"{legacy_url}/_sim/stats", timeout=5).json().get("in_flight", 0) < 1:
            if time.monotonic() > deadline or slow.done():
                raise Failure("drain: the slow read never reached the legacy ERP")
            time.sleep(0.05)
        run(["docker", "kill", "--signal", "TERM", gateway])
        signalled = time.monotonic()
        say(
            f"drain: SIGTERM sent {signalled - started:.1f} s into a read the ERP holds for "
            f"{SLOW_ERP_MS / 1000:.0f} s"
        )
        try:
            response = slow.result(timeout=STOP_GRACE_S)
        except httpx.HTTPError as exc:
            raise Failure(f"drain: the in-flight request failed: {exc!r}") from exc
        check(
            response.status_code == 200 and response.json().get("id") == order_id,
            f"drain: the in-flight request completed after SIGTERM (200 after "
            f"{time.monotonic() - started:.1f} s)",
            f"{response.status_code} {response.text[:300]}",
        )
    waited = run(["docker", "wait", gateway], timeout=STOP_GRACE_S, check_rc=False)
    if waited.returncode != 0:
        raise Failure(f"drain: the gateway did not exit within {STOP_GRACE_S:.0f} s of SIGTERM")
    exit_code = waited.stdout.strip()
    check(
        exit_code == "0",
        f"drain: the gateway exited 0, {time.monotonic() - signalled:.1f} s after SIGTERM "
        f"(grace period {STOP_GRACE_S:.0f} s)",
        f"exit code {exit_code}:\n{containers.logs(gateway)}",
    )


def check_compose() -> None:
    """`compose config` on deploy/compose.yaml, if a compose is installed (not required)."""
    compose: list[str] | None = None
    if run(["docker", "compose", "version"], check_rc=False).returncode == 0:
        compose = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        compose = ["docker-compose"]
    if compose is None:
        say("compose: no docker compose here; deploy/compose.yaml not checked")
        return
    file_args = [*compose, "--file", str(ROOT / "deploy" / "compose.yaml"), "config"]
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_DEMO_SECRET"}
    refused = run([*file_args, "--quiet"], env=env, check_rc=False)
    message = (refused.stderr + refused.stdout).strip()
    check(
        refused.returncode != 0 and "GATEWAY_DEMO_SECRET" in message,
        "compose: without GATEWAY_DEMO_SECRET, compose refuses and says what to set",
        message,
    )
    ok = run([*file_args, "--quiet"], env={**env, "GATEWAY_DEMO_SECRET": "x"}, check_rc=False)
    check(ok.returncode == 0, "compose: deploy/compose.yaml is valid", ok.stderr.strip())


def run_image(image: str) -> None:
    containers = Containers(image)
    containers.remove_leftovers()
    try:
        user = containers.one_off("id", "-un")
        check(user == "gateway", "the image runs as the non-root user gateway", user)
        # The shipped subscription's signing secret and the backends' events secrets, as a
        # deployment sets them: without them `gateway check` (and the start-up) warns that its
        # deliveries would all fail and the ERPs' notifications would all be refused.
        served_secrets = {
            "CRM_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
            "LEGACY_EVENTS_SECRET": secrets.token_hex(16),
            "CLOUD_EVENTS_SECRET": secrets.token_hex(16),
        }
        checked = containers.one_off("gateway", "check", env=served_secrets)
        check(checked.endswith("0 error(s), 0 warning(s)"), "gateway check: configuration", checked)
        secret = secrets.token_hex(16)
        with redis_for_test() as redis_url:
            legacy_port, cloud_port, gateway_port = free_port(), free_port(), free_port()
            sims = {"legacy": legacy_port, "cloud": cloud_port}
            names = [
                containers.start(
                    f"{erp}-erp",
                    ["--no-healthcheck"],
                    ["gateway", "simulate", erp, "--host", "127.0.0.1", "--port", str(port)],
                )
                for erp, port in sims.items()
            ]
            legacy_url = f"http://127.0.0.1:{legacy_port}"
            env = {
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(gateway_port),
                "GATEWAY_WORKERS": "2",
                "GATEWAY_REDIS_URL": redis_url,
                "GATEWAY_LEGACY_URL": legacy_url,
                "GATEWAY_CLOUD_URL": f"http://127.0.0.1:{cloud_port}",
                "GATEWAY_DEMO_SECRET": secret,
                **ERP_CREDENTIALS,
                **served_secrets,
            }
            env_args = [arg for k, v in env.items() for arg in ("--env", f"{k}={v}")]
            # The image's own CMD and HEALTHCHECK; only the check's interval is shortened.
            gateway = containers.start("gateway", [*env_args, "--health-interval=1s"])
            names.append(gateway)
            say(
                f"run: simulators on :{legacy_port} and :{cloud_port}, gateway (2 workers) on "
                f":{gateway_port}, Redis {redis_url}"
            )
            base_url = f"http://127.0.0.1:{gateway_port}"
            with httpx.Client(base_url=base_url, timeout=15) as client:
                ready = [f"http://127.0.0.1:{port}/_sim/stats" for port in sims.values()]
                took = wait_until_ready([*ready, f"{base_url}/readyz"], containers, names)
                check(True, f"both simulators up, and the gateway's /readyz 200, in {took:.1f} s")
                took = wait_until_healthy(containers, gateway)
                check(True, f"the image's HEALTHCHECK reports healthy ({took:.1f} s)")
                dashboard_served(client)
                token = containers.one_off(
                    "gateway", "token", "--client", "crm-demo", env={"GATEWAY_DEMO_SECRET": secret}
                )
                check(token.count(".") == 2, "gateway token --client crm-demo minted a JWT")
                client.headers["Authorization"] = f"Bearer {token}"
                run_id = uuid.uuid4().hex[:12]
                de_order = order_end_to_end(client, "DE01", "legacy", run_id)
                order_end_to_end(client, "US01", "cloud", run_id)
                drain(client, containers, gateway, legacy_url, de_order)
        check_compose()
    finally:
        containers.remove_all()


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=os.environ.get("BASE_IMAGE") or DEFAULT_BASE)
    parser.add_argument("--local-base", default=LOCAL_BASE, help="tag of the debootstrap base")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="the tag to build and test")
    parser.add_argument("--build-only", action="store_true", help="build the image, run nothing")
    args = parser.parse_args()
    engine = Engine()
    # A TERM (CI giving up, say) cleans up like a Ctrl-C does.
    signal.signal(signal.SIGTERM, interrupted)
    status = 0
    try:
        engine.ensure()
        base = ensure_base(args.base, args.local_base)
        build_image(base, args.image)
        if not args.build_only:
            run_image(args.image)
    except Failure as failure:
        say(f"FAILED: {failure}")
        status = failure.status
    except KeyboardInterrupt:
        say("interrupted")
        status = 130
    except Exception:  # a bug here, or an answer no check expected: say where, clean up
        traceback.print_exc()
        say("FAILED: unexpected error (traceback above)")
        status = EXIT_FAILED
    finally:
        engine.stop()
    outcome = "passed" if status == 0 else "FAILED"
    what = "image build" if args.build_only else "image test"
    say(f"{what} {outcome} in {time.monotonic() - STARTED:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())

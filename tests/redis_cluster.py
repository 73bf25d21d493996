"""A local Redis Cluster of three masters (no replicas, no persistence) on free ports, for the
store's contract suite and the exactly-once tests: `redis-server --cluster-enabled yes` three
times, then `redis-cli --cluster create`.

Not a production layout (see the README's scale-out section): it proves that every script's
keys share a slot and that the gateway's pipelines work through redis-py's cluster client.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.redis_server import LOCAL_HOST, POLL_INTERVAL_S, START_DEADLINE_S, RedisProcess

NODES = 3
BUS_OFFSET = 10_000  # a node's cluster bus port is its port and this
PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
CREATE_OPTIONS = ("--cluster-replicas", "0", "--cluster-yes")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOCAL_HOST, port))
        except OSError:
            return False
    return True


def ephemeral_ports() -> range:
    """The ports the kernel hands out itself, to each outgoing connection and each bind to port
    0 (Linux's ip_local_port_range; its default where there is none)."""
    try:
        low, high = (int(n) for n in Path(PORT_RANGE).read_text().split())
    except (OSError, ValueError):
        low, high = 32_768, 60_999
    return range(low, high + 1)


def cluster_port() -> int:
    """A free port whose cluster bus port (BUS_OFFSET higher, at most 65,535) is free too, and
    neither of them one the kernel hands out: a node binds them a moment after they were found
    free (and again after a restart), and the other pytest worker's outgoing connections and
    servers on port 0 are given ports from that range, one of them now and then ours."""
    ephemeral = ephemeral_ports()
    ours = [
        port
        for port in range(20_000, 65_536 - BUS_OFFSET)
        if port not in ephemeral and port + BUS_OFFSET not in ephemeral
    ]
    for _ in range(200):
        port = random.choice(ours) if ours else random.randint(20_000, 55_000)
        if _free(port) and _free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a local Redis Cluster node")


def redis_cluster_possible() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


class RedisClusterProcesses:
    """`nodes` masters; one serves every slot itself (a Redis in cluster mode that a plain
    client can use: as a managed service's single shard)."""

    def __init__(self, nodes: int = NODES) -> None:
        self.nodes = [
            RedisProcess(
                port=cluster_port(),
                extra_args=("--cluster-enabled", "yes", "--cluster-node-timeout", "5000"),
            )
            for _ in range(nodes)
        ]

    @property
    def url(self) -> str:
        """The gateway's setting for this cluster: one node's address, `+cluster` scheme."""
        return f"redis+cluster://{LOCAL_HOST}:{self.nodes[0].port}"

    @property
    def node_url(self) -> str:
        """One node, as redis-py's cluster client takes it."""
        return f"redis://{LOCAL_HOST}:{self.nodes[0].port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        if len(self.nodes) == 1:
            command = ["redis-cli", "-p", str(self.nodes[0].port)]
            command += ["cluster", "addslotsrange", "0", "16383"]
        else:
            addresses = [f"{LOCAL_HOST}:{node.port}" for node in self.nodes]
            command = ["redis-cli", "--cluster", "create", *addresses, *CREATE_OPTIONS]
        subprocess.run(command, check=True, capture_output=True, timeout=30)
        self.wait_ready()

    def wait_ready(self) -> None:
        """Until every node says cluster_state:ok (after a start, or a node's restart)."""
        end = time.monotonic() + START_DEADLINE_S
        while not all(self._ready(node.port) for node in self.nodes):
            if time.monotonic() > end:
                raise RuntimeError("the local Redis Cluster did not reach cluster_state:ok")
            time.sleep(POLL_INTERVAL_S * 10)

    @staticmethod
    def _ready(port: int) -> bool:
        info = subprocess.run(
            ["redis-cli", "-p", str(port), "cluster", "info"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        return "cluster_state:ok" in info

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RedisClusterProcesses:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

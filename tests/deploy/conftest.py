"""A real three-node Redis Cluster on loopback (no replicas), for the scale-out tests."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import redis

from gridwatch.services import RedisServer, ServiceError, free_port


def start_cluster(workdir: Path, nodes: int = 3) -> list[RedisServer]:
    """`nodes` cluster-enabled redis-servers joined with `redis-cli --cluster create`, every
    slot served and `cluster_state:ok` on each node before returning."""
    servers = []
    try:
        for i in range(nodes):
            # The cluster bus port is its own free port (the default, port + 10000, may be taken
            # or beyond 65535).
            servers.append(RedisServer(
                name=f"redis-node{i}", workdir=workdir / f"node{i}", appendonly=False,
                extra_args=("--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                            "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"),
            ).start())
        create = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{s.port}" for s in servers),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )
        if create.returncode != 0:
            raise ServiceError(f"redis-cli --cluster create failed: {create.stdout}{create.stderr}")
        deadline = time.monotonic() + 30
        for s in servers:
            client = redis.Redis(port=s.port)
            try:
                while (state := client.execute_command("CLUSTER INFO"))["cluster_state"] != "ok":
                    if time.monotonic() > deadline:
                        raise ServiceError(f"cluster not ok on port {s.port}: {state}")
                    time.sleep(0.1)
            finally:
                client.close()
        return servers
    except BaseException:
        for s in servers:
            s.stop()
        raise


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory) -> list[RedisServer]:
    servers = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield servers
    for s in servers:
        s.stop()

"""A real Ray cluster of two 1-CPU nodes on this machine, for the cluster tests and
benchmarks/bench_ray.py.

`ray start --head` plus a second `ray start --address` node, the head's dashboard on
127.0.0.1 (Ray's state API, which gives the replicas' pids, is served by it). Ray's GCS and
raylets bind to the node's address whatever --node-ip-address says (Ray replaces 127.0.0.1
by it), so a cluster lives only as long as its session. `ray stop --force` at the end stops
every Ray process of this machine: run these where no other Ray cluster runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NODE_CPUS = "1"
OBJECT_STORE_BYTES = str(200 * 1024 * 1024)  # Ray's floor is 75 MB; the tests move little


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ray_command() -> str:
    script = Path(sys.executable).with_name("ray")
    return str(script) if script.exists() else shutil.which("ray") or "ray"


def ray_start(*args: str) -> None:
    command = [ray_command(), "start", "--node-ip-address", "127.0.0.1", *args]
    common = ["--num-cpus", NODE_CPUS, "--object-store-memory", OBJECT_STORE_BYTES]
    done = subprocess.run([*command, *common], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def ray_stop() -> None:
    subprocess.run([ray_command(), "stop", "--force"], check=False, capture_output=True)


@contextmanager
def two_node_cluster() -> Iterator[str]:
    """Start the cluster, yield its address, stop it. The environment it sets reaches the
    nodes and every process started inside the block (mmserve servers and commands)."""
    # A head enables token authentication by itself when ~/.ray/auth_token exists (any local
    # ray.init writes one), and a joining node then fails to authenticate: off, on loopback.
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")}
    os.environ.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    port, dashboard = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    try:
        ray_start(
            *("--head", "--port", str(port), "--include-dashboard=true"),
            *("--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard)),
        )
        ray_start("--address", address)
        yield address
    finally:
        ray_stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

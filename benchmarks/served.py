"""A server started in a subprocess, and wrk loading it from another process.

wrk runs one thread (`-t1`) with keep-alive connections, one per unit of concurrency, and
builds a new body for every request (`wrk_embeddings.lua`). The CPU that wrk and the
server process tree use during each run is recorded too: on a small machine the load
generator competes with the server for the same cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import cpu
from workload import MODEL_ID, WORDS, WORDS_PER_SENTENCE

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_embeddings.lua"
WRK_GET_SCRIPT = HERE / "wrk_get.lua"
WRK_BODIES_SCRIPT = HERE / "wrk_bodies.lua"
WRK_TIMEOUT = "10s"  # a request slower than this counts as an error
READY_TIMEOUT_S = 180.0  # model load and warm-up
READY_POLL_S = 0.25
STOP_TIMEOUT_S = 30.0  # the server's graceful stop (server.GRACEFUL_STOP_S)
BATCH_METRIC = "mmserve_batch_size"  # histogram of items per forward pass


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts and non-2xx answers
    server_cpu: float  # cores the server's processes used (CPU seconds per second)
    wrk_cpu: float  # cores wrk used
    other_cpu: float  # cores used by anything else on the machine: should be ~0
    mean_batch: float | None  # items per forward pass, from mmserve's /metrics; None: no metrics


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit(
            "bench: wrk is not installed; install it with `apt-get install wrk` "
            "(Debian/Ubuntu) or `brew install wrk` (macOS), then run again"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """`with Server(name, command_without_port) as server:` starts the command with
    `--port <free port>`, waits for GET /readyz == 200, and stops it on exit."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str] | None = None,
        ready_path: str = "/readyz",
    ):
        self.name = name
        self.env = env  # None: this process's environment
        self.port = free_port()
        self.command = [*command, "--port", str(self.port)]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path  # answers 200 once it serves (infinity: /health)
        self._log: IO[bytes] = tempfile.TemporaryFile()
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        # A session (process group) of its own: stopping it stops the servers' children too
        # (LitServe's inference processes outlive a terminated parent otherwise).
        self._process = subprocess.Popen(
            self.command,
            stdout=self._log,
            stderr=self._log,
            env=self.env,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._process is None:
            return
        group = self._process.pid  # its session's id, and so its process group's
        try:
            os.killpg(group, signal.SIGCONT)  # a paused server would keep the terminate pending
        except ProcessLookupError:
            pass  # it has exited
        self._process.terminate()
        try:
            self._process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        try:
            os.killpg(group, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass  # nothing was
        self._process = None
        self._log.close()

    def pause(self) -> None:
        """Stop every process of the server (SIGSTOP) while another is measured: an idle
        server may still take CPU (LitServe's idle workers poll: ~0.3 of a core here)."""
        os.killpg(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.pid, signal.SIGCONT)

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self._process.returncode}:\n" + self.log_tail()
                )
            if _status(self.url + self.ready_path) == 200:
                return
            time.sleep(READY_POLL_S)
        raise RuntimeError(
            f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n" + self.log_tail()
        )

    def log_tail(self, chars: int = 3000) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-chars:]

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server is not running"
        return self._process.pid

    def batch_totals(self) -> tuple[float, float] | None:
        """(items, forward passes) so far, from mmserve's batch-size histogram in /metrics."""
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
                text = response.read().decode()
        except urllib.error.HTTPError:
            return None  # the naive app has no metrics
        totals = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith(BATCH_METRIC):
                totals[name.removeprefix(BATCH_METRIC).split("{")[0]] = float(value)
        if "_sum" not in totals or "_count" not in totals:
            return None
        return totals["_sum"], totals["_count"]

    def check_embedding(self) -> None:
        """One request, answered 200 with a vector: the load figures mean something."""
        body = json.dumps({"input": "a check sentence", "model": MODEL_ID}).encode()
        request = urllib.request.Request(
            self.url + "/v1/embeddings", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            vector = json.load(response)["data"][0]["embedding"]
        if not vector:
            raise RuntimeError(f"{self.name} answered an empty embedding")


def measure(
    server: Server,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    run_id: str,
    bodies: tuple[str, Path] | None = None,
) -> LoadResult:
    """Warm up at `concurrency`, then load the server for `duration_s` and read wrk's figures.

    The load: new sentences to /v1/embeddings, or with `bodies` = (path, file) the file's
    bodies POSTed to that path in turn (post_bodies)."""

    def run(seconds: float, run_id: str) -> dict[str, Any]:
        if bodies is None:
            return _run_wrk(server.url, concurrency, seconds, run_id)
        return post_bodies(server.url, *bodies, concurrency, seconds)

    run(warmup_s, run_id + "w")
    batches_before, before = server.batch_totals(), cpu.read(server.pid)
    result = run(duration_s, run_id)
    cores = cpu.read(server.pid).cores_since(before)
    batches_after = server.batch_totals()
    seconds = result["duration_us"] / 1e6
    return LoadResult(
        concurrency=concurrency,
        requests_per_s=result["requests"] / seconds,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        errors=result["socket_errors"] + result["non_2xx"],
        server_cpu=cores["watched"],
        wrk_cpu=cores["waited"],
        other_cpu=cores["other"],
        mean_batch=_mean_batch(batches_before, batches_after),
    )


def http_floor_p50_ms(server: Server, duration_s: float) -> float:
    """p50 of GET /healthz at concurrency 1: what the HTTP stack alone costs a request."""
    command = [require_wrk(), "-t1", "-c1", f"-d{duration_s:g}s", "-s", str(WRK_GET_SCRIPT)]
    p50_us: int = wrk_result([*command, server.url + "/healthz"])["p50_us"]
    return p50_us / 1000


def _run_wrk(url: str, concurrency: int, duration_s: float, run_id: str) -> dict[str, Any]:
    command = [
        require_wrk(),
        "-t1",
        f"-c{concurrency}",
        f"-d{duration_s:g}s",
        f"--timeout={WRK_TIMEOUT}",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        run_id,
        MODEL_ID,
        str(WORDS_PER_SENTENCE),
        *WORDS,
    ]
    return wrk_result(command)


def post_bodies(
    url: str, path: str, bodies: Path, concurrency: int, duration_s: float
) -> dict[str, Any]:
    """wrk POSTing the JSON bodies of `bodies` (one per line) to `path` in turn: its result."""
    command = [require_wrk(), "-t1", f"-c{concurrency}", f"-d{duration_s:g}s"]
    command += [f"--timeout={WRK_TIMEOUT}", "-s", str(WRK_BODIES_SCRIPT), url]
    return wrk_result([*command, "--", path, str(bodies.resolve())])


def wrk_result(command: list[str]) -> dict[str, Any]:
    """Run wrk and read the one "WRK_RESULT {json}" line its script's done() prints."""
    # In this folder, where the scripts' require("wrk_report") finds the reporter.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=HERE)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("WRK_RESULT "))
            return parsed
    raise RuntimeError(
        f"wrk printed no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    )


def _mean_batch(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> float | None:
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None  # not listening yet

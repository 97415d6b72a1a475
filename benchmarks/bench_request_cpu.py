"""CPU a request's own Python work costs: POST /v1/embeddings through the WSGI app, in-process.

No HTTP server, no client, no model: the app is built with the fake model (384 dimensions,
like MiniLM; tests/conftest.py builds the same app) and each request calls `app.wsgi_app`
with a prepared WSGI environ, so what is measured is Flask's dispatch, mmserve's hooks
(request id, body limit, auth, scope, usage, audit line, metrics), validation, the batcher's
hand-off and the JSON response. CPU time (time.process_time, every thread of this process)
per request, for auth off and for auth on with an API key, over REPEATS runs: the lowest
and the median. Other work on the machine only adds to a run's CPU time (shared caches and
cores), so on a loaded machine the lowest is the steadier figure for comparing two trees;
the Python function calls per request (counted by cProfile) do not depend on load at all.
Then a cProfile top list. `naive` is the tutorial endpoint of naive_app.py (no hooks, no
batcher, the standard library's JSON encoder) on the same fake model, for scale.

    python benchmarks/bench_request_cpu.py            # ~20 s
    python benchmarks/bench_request_cpu.py --quick    # ~5 s, fewer runs
    python benchmarks/bench_request_cpu.py --profile 25   # the 25 top functions by own time
    python benchmarks/bench_request_cpu.py --compare BEFORE/src AFTER/src   # two trees, ~1 min
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workload import sentence

REQUESTS = 400  # per run
REPEATS = 15  # many short runs: the lowest catches the machine's quiet moments
COMPARE_ROUNDS = 20  # pairs of runs in --compare
PROFILED = 500  # requests under cProfile: its call count per request does not vary with load
WARMUP = 300
DIMENSIONS = 384  # MiniLM's: the response's size matters (JSON encoding)
SETUPS = ("off", "keys", "naive")  # auth off, auth on with an API key, naive_app.py


def build_app(data_dir: Path, auth: bool) -> tuple[Any, str | None]:
    from mmserve.app import create_app
    from mmserve.config import Config, ModelConfig
    from mmserve.security_config import AuthConfig

    config = Config(
        data_dir=data_dir,
        models=(ModelConfig(id="fake", source=f"fake:dim={DIMENSIONS}"),),
        auth=AuthConfig(mode="keys" if auth else "off"),
    )
    app = create_app(config, wait_for_models=True)
    key = None
    if auth:
        _, key = app.extensions["mmserve"].security.keys.create("bench", ["embed"])
    return app, key


def environ(body: bytes, key: str | None) -> dict[str, Any]:
    """A WSGI environ of POST /v1/embeddings, as an HTTP server would pass it."""
    env = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/v1/embeddings",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if key is not None:
        env["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return env


class Sender:
    """Requests through the WSGI app, each a new sentence; the environs are built before the
    clock starts, so only the app's own work is timed. Every answer must be a 200."""

    def __init__(self, app: Any, key: str | None, run_id: str):
        self.app, self.key, self.run_id = app, key, run_id
        self.rng = random.Random(run_id)
        self.sent = 0

    def prepare(self, n: int) -> list[dict[str, Any]]:
        envs = []
        for number in range(self.sent, self.sent + n):
            text = sentence(self.run_id, number, self.rng)
            body = json.dumps({"input": text, "model": "fake"}).encode()
            env = environ(body, self.key)
            env["wsgi.input"] = io.BytesIO(body)
            envs.append(env)
        self.sent += n
        return envs

    def send(self, envs: list[dict[str, Any]]) -> None:
        for env in envs:
            result = self.app.wsgi_app(env, _start_response)
            b"".join(result)
            if hasattr(result, "close"):
                result.close()


def _start_response(status: str, headers: list[tuple[str, str]]) -> None:
    if not status.startswith("200"):
        raise RuntimeError(f"request failed: {status}")


def cpu_us_per_request(sender: Sender, requests: int, repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        envs = sender.prepare(requests)
        start = time.process_time()
        sender.send(envs)
        runs.append(1e6 * (time.process_time() - start) / requests)
    return runs


def profile(sender: Sender, requests: int) -> pstats.Stats:
    envs = sender.prepare(requests)
    profiler = cProfile.Profile()
    profiler.enable()
    sender.send(envs)
    profiler.disable()
    return pstats.Stats(profiler, stream=io.StringIO())


def top_list(stats: pstats.Stats, top: int) -> str:
    stats.sort_stats("tottime").print_stats(top)
    return stats.stream.getvalue()  # type: ignore[attr-defined]


@contextmanager
def opened(name: str) -> Iterator[Sender]:
    """A warmed-up Sender to the app of setup `name`, closed afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        if name == "naive":
            from naive_app import create_naive_app  # imports mmserve: of the tree measured

            app, key = create_naive_app(f"fake:dim={DIMENSIONS}"), None
        else:
            app, key = build_app(Path(folder), auth=name == "keys")
        try:
            sender = Sender(app, key, f"cpu-{name}")
            sender.send(sender.prepare(WARMUP))
            yield sender
        finally:
            services = app.extensions.get("mmserve")
            if services is not None:  # before the data directory goes
                services.pool.stop()
                services.close()


def measure_here(setups: list[str], repeats: int, top: int) -> None:
    for name in setups:
        with opened(name) as sender:
            runs = cpu_us_per_request(sender, REQUESTS, repeats)
            stats = profile(sender, PROFILED)
            calls = stats.total_calls / PROFILED  # type: ignore[attr-defined]
            print(
                f"{name:<5}: {min(runs):4.0f} us CPU per request (lowest of {repeats} x "
                f"{REQUESTS}; median {statistics.median(runs):.0f}), "
                f"{calls:.0f} Python calls per request",
                flush=True,
            )
            if top:
                print(top_list(stats, top))


def worker(name: str) -> None:
    """--worker: answer each "run" line on stdin with one run's CPU us per request."""
    with opened(name) as sender:
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            print(cpu_us_per_request(sender, REQUESTS, 1)[0], flush=True)


class Worker:
    """One setup of one source tree, in a process of its own (--worker), measured on request."""

    def __init__(self, src: str, name: str):
        env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
        command = [sys.executable, __file__, "--worker", name]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.ask, self.answer = self.process.stdin, self.process.stdout
        if self.ask is None or self.answer is None or self.answer.readline() != "ready\n":
            raise RuntimeError(f"the worker of {src} ({name}) did not start")

    def run(self) -> float:
        self.ask.write("run\n")
        self.ask.flush()
        return float(self.answer.readline())

    def close(self) -> None:
        self.ask.close()
        self.process.wait()


def compare(before_src: str, after_src: str, setups: list[str], rounds: int) -> None:
    """Two trees, each in a worker process of its own, measured in alternating runs (the
    order flips each round), so both see the same load; after/before per pair of runs."""
    for name in setups:
        workers = [Worker(before_src, name), Worker(after_src, name)]
        runs: list[list[float]] = [[], []]
        for round_ in range(rounds):
            for index in (0, 1) if round_ % 2 == 0 else (1, 0):
                runs[index].append(workers[index].run())
        for worker_ in workers:
            worker_.close()
        ratios = [after / before for before, after in zip(*runs, strict=True)]
        print(
            f"{name:<5}: before {min(runs[0]):4.0f} us (median {statistics.median(runs[0]):.0f})"
            f", after {min(runs[1]):4.0f} us (median {statistics.median(runs[1]):.0f}); "
            f"after/before median of {rounds} pairs {statistics.median(ratios):.3f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (~5 s)")
    parser.add_argument("--profile", type=int, default=20, metavar="N", help="top N (0: none)")
    parser.add_argument("--only", choices=SETUPS, help="one setup only")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("BEFORE_SRC", "AFTER_SRC"),
        help="two source trees (their src/ folders), measured in alternating runs",
    )
    parser.add_argument("--worker", choices=SETUPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    setups = [args.only] if args.only else list(SETUPS)
    if args.worker:
        worker(args.worker)
    elif args.compare:
        compare(*args.compare, setups, COMPARE_ROUNDS // 4 if args.quick else COMPARE_ROUNDS)
    else:
        measure_here(setups, 3 if args.quick else REPEATS, args.profile)


if __name__ == "__main__":
    main()

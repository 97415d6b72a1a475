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

    python benchmarks/bench_request_cpu.py            # ~15 s
    python benchmarks/bench_request_cpu.py --quick    # ~5 s, fewer runs
    python benchmarks/bench_request_cpu.py --profile 25   # the 25 top functions by own time
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workload import sentence

REQUESTS = 400  # per run
REPEATS = 15  # many short runs: the lowest catches the machine's quiet moments
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


def build_naive_app() -> Any:
    from flask import Flask
    from naive_app import bp

    from mmserve.models.registry import create_model

    model = create_model("fake", f"fake:dim={DIMENSIONS}")
    model.load()
    app = Flask("naive")
    app.extensions["naive_model"] = model
    app.register_blueprint(bp)
    return app


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (~3 s)")
    parser.add_argument("--profile", type=int, default=20, metavar="N", help="top N (0: none)")
    parser.add_argument("--only", choices=SETUPS, help="one setup only")
    args = parser.parse_args()
    requests, repeats = (REQUESTS, 3) if args.quick else (REQUESTS, REPEATS)
    for name in [args.only] if args.only else SETUPS:
        with tempfile.TemporaryDirectory() as folder:
            if name == "naive":
                app, key = build_naive_app(), None
            else:
                app, key = build_app(Path(folder), auth=name == "keys")
            try:
                sender = Sender(app, key, f"cpu-{name}")
                sender.send(sender.prepare(WARMUP))
                runs = cpu_us_per_request(sender, requests, repeats)
                stats = profile(sender, PROFILED)
                calls = stats.total_calls / PROFILED  # type: ignore[attr-defined]
                print(
                    f"{name:<5}: {min(runs):4.0f} us CPU per request (lowest of {repeats} x "
                    f"{requests}; median {statistics.median(runs):.0f}), "
                    f"{calls:.0f} Python calls per request",
                    flush=True,
                )
                if args.profile:
                    print(top_list(stats, args.profile))
            finally:
                services = app.extensions.get("mmserve")
                if services is not None:  # before the data directory goes
                    services.pool.stop()
                    services.close()


if __name__ == "__main__":
    main()

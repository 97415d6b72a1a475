"""The HTTP stack under mmserve: which WSGI server, how many request threads.

The same Flask app, the same routes and the same `minilm` model behind each candidate; only
what carries requests to it changes. Candidates start one after another and are measured in
alternating rounds (A B C ... A B C ...), so the drift of a shared machine falls on all of
them alike. At each concurrency it prints requests/s, p50, p99, the server's cores and CPU
milliseconds per request (the server's cost of one request, the figure that decides
throughput once the cores are full), and the HTTP floor: the p50 of GET /healthz at
concurrency 1, a request that does no work, below which no served latency can go.

    .venv/bin/python benchmarks/bench_http.py             # every candidate, c = 1 and 16
    .venv/bin/python benchmarks/bench_http.py --quick     # 2 s rounds: checks that it runs

gunicorn (the server before granian: gunicorn_app.py) is a candidate when it is installed
(the `bench` extra).

Writes bench-results/http.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from served import LoadResult, Server, http_floor_p50_ms, measure, require_wrk
from workload import MODEL_ID

LEVELS = (1, 16)
ROUNDS = 2
MEASURE_S = 8.0
WARMUP_S = 1.0
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MMSERVE = [str(BIN / "mmserve"), "serve", "--models", MODEL_ID]
# The server before granian, the same app: configured from the environment.
GUNICORN = [sys.executable, str(Path(__file__).with_name("gunicorn_app.py"))]


def candidates() -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command without --port, extra environment)."""
    found: dict[str, tuple[list[str], dict[str, str]]] = {
        "mmserve (granian), 64 threads (default)": (MMSERVE, {}),
        "mmserve (granian), 16 threads": ([*MMSERVE, "--threads", "16"], {}),
    }
    if importlib.util.find_spec("gunicorn") is not None:  # the `bench` extra
        env = {"MMSERVE_DATA_DIR": "", "MMSERVE_MODELS": MODEL_ID}
        found["gunicorn gthread, 64 threads (before)"] = (GUNICORN, env)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per round, one round")
    args = parser.parse_args()
    require_wrk()
    seconds, rounds = (2.0, 1) if args.quick else (MEASURE_S, ROUNDS)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        servers = {}
        for index, (name, (command, extra)) in enumerate(candidates().items()):
            data_dir = Path(tmp) / str(index)
            env = dict(os.environ) | extra
            if "MMSERVE_DATA_DIR" in extra:  # gunicorn: the app reads its settings from env
                env["MMSERVE_DATA_DIR"] = str(data_dir)
            else:
                command = [*command, "--data-dir", str(data_dir)]
            servers[name] = stack.enter_context(Server(name, command, env=env))
            servers[name].check_embedding()
        results: dict[str, dict[int, list[LoadResult]]] = {n: {} for n in servers}
        floors = {name: http_floor_p50_ms(server, seconds) for name, server in servers.items()}
        for level in LEVELS:
            for round_index in range(rounds):
                for name, server in servers.items():
                    run = measure(server, level, seconds, WARMUP_S, f"h{level}.{round_index}")
                    results[name].setdefault(level, []).append(run)
                    print(f"  {name} c={level}: {run.requests_per_s:.0f} req/s", flush=True)
    print(table(results))
    print("HTTP floor, p50 of GET /healthz at c=1 (ms):")
    for name, floor in floors.items():
        print(f"  {name:<40} {floor:6.2f}")
    out = ROOT / "bench-results" / "http.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"load": _serialisable(results), "floor_p50_ms": floors}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


def _serialisable(results: dict[str, dict[int, list[LoadResult]]]) -> dict[str, Any]:
    return {
        name: {c: [asdict(r) for r in runs] for c, runs in by.items()}
        for name, by in results.items()
    }


def table(results: dict[str, dict[int, list[LoadResult]]]) -> str:
    lines = [
        f"{'server':<40} {'c':>3} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'cores':>5} {'cpu ms/req':>10} {'other':>5}"
    ]
    for name, by_level in results.items():
        for level, runs in by_level.items():
            lines.append(f"{name:<40} {level:>3} {_row(runs)}")
    return "\n".join(lines)


def _row(runs: list[LoadResult]) -> str:
    """Means over the rounds."""
    n = len(runs)
    rate = sum(r.requests_per_s for r in runs) / n
    cores = sum(r.server_cpu for r in runs) / n
    fields: dict[str, Any] = {
        "rate": rate,
        "p50": sum(r.p50_ms for r in runs) / n,
        "p99": sum(r.p99_ms for r in runs) / n,
        "cores": cores,
        "ms": 1000 * cores / rate if rate else float("nan"),
        "other": sum(r.other_cpu for r in runs) / n,
    }
    return (
        f"{fields['rate']:7.1f} {fields['p50']:7.2f} {fields['p99']:7.2f}"
        f" {fields['cores']:5.2f} {fields['ms']:10.2f} {fields['other']:5.2f}"
    )


if __name__ == "__main__":
    main()

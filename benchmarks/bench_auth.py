"""What auth costs on POST /v1/embeddings at concurrency 16, side by side in one run.

Three servers of `mmserve serve --models minilm`, one at a time, on one data directory:
  off      auth off (usage is still counted per client address: that is the baseline)
  keys     [auth] mode = "keys", a key with the embed scope: one SQLite read per request
           to find the key (so a revocation holds at once), plus usage counting
  limited  the same with a rate limit and a daily text-token quota set far above what the
           run sends: the token bucket and a quota read per request are added

Each is loaded by wrk (benchmarks/served.py) for MEASURE_S after WARMUP_S, in ROUNDS
rounds in alternating order, so drift on a shared machine falls on every server alike; the
best round of each is compared. Target: keys >= 0.97 of off. Writes
bench-results/auth.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from served import LoadResult, Server, measure, require_wrk
from workload import MODEL_ID

CONCURRENCY = 16
MEASURE_S = 10.0
WARMUP_S = 2.0
ROUNDS = 2
TARGET = 0.97  # auth on / auth off throughput

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
BIN = Path(sys.executable).parent
MMSERVE = str(BIN / "mmserve")


def create_key(data_dir: Path, name: str, *options: str) -> str:
    done = subprocess.run(
        [
            MMSERVE,
            "keys",
            "--data-dir",
            str(data_dir),
            "create",
            "--name",
            name,
            "--scopes",
            "embed",
            *options,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def run(name: str, data_dir: Path, mode: str, key: str | None, round_: int) -> LoadResult:
    command = [MMSERVE, "serve", "--models", MODEL_ID, "--data-dir", str(data_dir)]
    command += ["--auth-mode", mode]
    os.environ["BENCH_API_KEY"] = key or ""  # read by wrk_embeddings.lua
    try:
        with Server(name, command) as server:
            result = measure(server, CONCURRENCY, MEASURE_S, WARMUP_S, f"{name}{round_}")
    finally:
        os.environ.pop("BENCH_API_KEY", None)
    if result.errors:
        raise RuntimeError(f"{name}: {result.errors} errors; the figures mean nothing")
    print(
        f"round {round_} {name:<8} {result.requests_per_s:7.1f} req/s  p50 {result.p50_ms:6.1f} "
        f"ms  p99 {result.p99_ms:6.1f} ms  server {result.server_cpu:.2f} cores  "
        f"other {result.other_cpu:.2f} cores",
        flush=True,
    )
    return result


def main() -> None:
    require_wrk()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        keys = {
            "keys": create_key(data_dir, "bench"),
            "limited": create_key(
                data_dir, "bench-limited", "--rate", "100000", "--quota", "text_tokens=1e12"
            ),
        }
        setups = [
            ("off", "off", None),
            ("keys", "keys", keys["keys"]),
            ("limited", "keys", keys["limited"]),
        ]
        runs: dict[str, list[LoadResult]] = {name: [] for name, _, _ in setups}
        for round_ in range(ROUNDS):
            order = setups if round_ % 2 == 0 else list(reversed(setups))
            for name, mode, key in order:
                runs[name].append(run(name, data_dir, mode, key, round_))
    best = {name: max(r.requests_per_s for r in results) for name, results in runs.items()}
    ratios = {name: best[name] / best["off"] for name in ("keys", "limited")}
    print(f"\nbest of {ROUNDS} rounds at concurrency {CONCURRENCY}:")
    for name, value in best.items():
        print(f"  {name:<8} {value:7.1f} req/s")
    for name, ratio in ratios.items():
        verdict = "meets" if ratio >= TARGET else "misses"
        print(f"  {name} / off = {ratio:.3f} ({verdict} the {TARGET} target)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auth.json").write_text(
        json.dumps(
            {
                "concurrency": CONCURRENCY,
                "best_requests_per_s": best,
                "ratios": ratios,
                "runs": {n: [asdict(r) for r in rs] for n, rs in runs.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

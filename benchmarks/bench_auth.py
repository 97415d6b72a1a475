"""What auth costs on POST /v1/embeddings at concurrency 16, side by side in one run.

Three servers of `mmserve serve --models minilm`, one at a time, on one data directory:
  off      auth off (usage is still counted per client address: that is the baseline)
  keys     [auth] mode = "keys", a key with the embed scope: one SQLite read per request
           to find the key (so a revocation holds at once), plus usage counting
  limited  the same with a rate limit and a daily text-token quota set far above what the
           run sends: the token bucket and a quota read per request are added

Each is loaded by wrk (benchmarks/served.py) for MEASURE_S after WARMUP_S, in ROUNDS
rounds in alternating order, so drift on a shared machine falls on every server alike; the
best round of each is compared. Target: keys >= 0.97 of off.

Throughput on a machine other work shares swings by more than 3% from run to run, so two
steadier figures are printed too: the server's CPU milliseconds per request (its CPU time
over its requests, which other processes change less than they change throughput), and the
CPU cost of the auth work itself measured in-process (find and check the key in SQLite,
take a rate token, read the quota, count usage), as a share of an unauthenticated
request's CPU. Writes bench-results/auth.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from served import LoadResult, Server, measure, require_wrk
from workload import MODEL_ID

CONCURRENCY = 16
MEASURE_S = 10.0
WARMUP_S = 2.0
ROUNDS = 2
HOOK_CALLS = 5000  # in-process auth checks timed
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


def cpu_ms_per_request(result: LoadResult) -> float:
    return 1000 * result.server_cpu / result.requests_per_s


def auth_cpu_us(data_dir: Path, key: str) -> float:
    """CPU microseconds of one request's auth work, in this process (no HTTP, no model):
    the key, the scope, a rate token, the quota, two usage counts and the audit line."""
    from mmserve.security_config import AuthConfig
    from mmserve.services.audit import AuditLog
    from mmserve.services.auth import Authenticator
    from mmserve.services.ratelimit import RateLimiter
    from mmserve.services.usage import UsageMeter
    from mmserve.store.keys import KeyStore, open_auth_db
    from mmserve.store.usage import UsageStore

    db = open_auth_db(data_dir)
    audit = AuditLog(data_dir / "audit-bench")
    try:
        authenticator = Authenticator(AuthConfig(mode="keys"), KeyStore(db))
        limiter, meter = RateLimiter(), UsageMeter(UsageStore(db))
        record = {
            "time": "2026-12-03T08:00:00Z",
            "request_id": "0" * 32,
            "who": "bench",
            "kind": "key",
            "method": "POST",
            "route": "/v1/embeddings",
            "scope": "embed",
            "collection": None,
            "model": "minilm",
            "status": 200,
            "outcome": "ok",
        }
        start = time.process_time()
        for _ in range(HOOK_CALLS):
            principal = authenticator.authenticate(key, "127.0.0.1")
            principal.require("embed")
            limiter.take(principal.name, principal.rate_per_s or 1e5, principal.burst or 1)
            meter.check_quota(principal.name, principal.quotas, "day", ("text_tokens",))
            meter.add(principal.name, "requests", 1)
            meter.add(principal.name, "text_tokens", 17)
            audit.write(record)
        return 1e6 * (time.process_time() - start) / HOOK_CALLS
    finally:
        db.close()
        audit.close()


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
        hook_us = {name: auth_cpu_us(data_dir, keys[name]) for name in ("keys", "limited")}
    best = {name: max(r.requests_per_s for r in results) for name, results in runs.items()}
    ratios = {name: best[name] / best["off"] for name in ("keys", "limited")}
    print(f"\nbest of {ROUNDS} rounds at concurrency {CONCURRENCY}:")
    for name, value in best.items():
        print(f"  {name:<8} {value:7.1f} req/s")
    for name, ratio in ratios.items():
        verdict = "meets" if ratio >= TARGET else "misses"
        print(f"  {name} / off = {ratio:.3f} ({verdict} the {TARGET} target)")
    cpu_ms = {name: min(cpu_ms_per_request(r) for r in results) for name, results in runs.items()}
    print("server CPU per request (lowest of the rounds):")
    for name, value in cpu_ms.items():
        print(f"  {name:<8} {value:6.2f} ms")
    shares = {name: hook_us[name] / 1000 / cpu_ms["off"] for name in hook_us}
    for name, value in hook_us.items():
        print(
            f"auth work in-process ({name}): {value:.0f} us per request = "
            f"{100 * shares[name]:.1f}% of an auth-off request's {cpu_ms['off']:.2f} ms CPU"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "auth.json").write_text(
        json.dumps(
            {
                "concurrency": CONCURRENCY,
                "best_requests_per_s": best,
                "ratios": ratios,
                "server_cpu_ms_per_request": cpu_ms,
                "auth_cpu_us_per_request": hook_us,
                "auth_cpu_share": shares,
                "runs": {n: [asdict(r) for r in rs] for n, rs in runs.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

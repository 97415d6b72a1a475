"""Interactive latency with and without a running batch, side by side in one run.

`mmserve serve --models minilm` in a subprocess; wrk loads POST /v1/embeddings at
concurrency 4 (one new sentence per request) in alternating phases: no batch, then while a
batch of embedding lines (one sentence each, to the same model) runs. Each round ends by
measuring the batch alone for a few seconds (its rate on an idle server) and cancelling it.
Printed: p50/p99 per phase, the with/without p99 ratio per round and its median (target
<= 1.5), and the batch's lines/s under load and alone (it should use idle capacity, not
stop). Writes bench-results/batches.json.

The machine's other load shows in the "other cpu" column; on a shared machine the figures
drift, which is why the phases alternate instead of running one after the other.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
from served import Server, measure, require_wrk
from workload import MODEL_ID, WORDS

ROUNDS = 5
CONCURRENCY = 4
MEASURE_S = 10.0
WARMUP_S = 2.0
ALONE_S = 3.0
BATCH_LINES = 20_000
TARGET_P99_RATIO = 1.5
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
MMSERVE = [str(Path(sys.executable).parent / "mmserve"), "serve", "--models", MODEL_ID]


def batch_file() -> bytes:
    lines = []
    for i in range(BATCH_LINES):
        text = f"batch line {i} " + " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(8))
        body = {"model": MODEL_ID, "input": text}
        lines.append(
            {"custom_id": f"l{i}", "method": "POST", "url": "/v1/embeddings", "body": body}
        )
    return "\n".join(json.dumps(x) for x in lines).encode()


def lines_done(client: openai.OpenAI, batch_id: str) -> int:
    counts = client.batches.retrieve(batch_id).request_counts
    return counts.completed + counts.failed


def wait_status(client: openai.OpenAI, batch_id: str, wanted: tuple[str, ...]) -> None:
    deadline = time.monotonic() + 60
    while client.batches.retrieve(batch_id).status not in wanted:
        if time.monotonic() > deadline:
            raise RuntimeError(f"batch {batch_id} never became {wanted}")
        time.sleep(0.1)


def one_round(server: Server, client: openai.OpenAI, file_id: str, n: int) -> dict[str, Any]:
    plain = measure(server, CONCURRENCY, MEASURE_S, WARMUP_S, f"plain{n}")
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h"
    )
    wait_status(client, batch.id, ("in_progress",))
    before, started = lines_done(client, batch.id), time.monotonic()
    loaded = measure(server, CONCURRENCY, MEASURE_S, WARMUP_S, f"batch{n}")
    under_load = (lines_done(client, batch.id) - before) / (time.monotonic() - started)
    before, started = lines_done(client, batch.id), time.monotonic()
    time.sleep(ALONE_S)
    alone = (lines_done(client, batch.id) - before) / (time.monotonic() - started)
    client.batches.cancel(batch.id)
    wait_status(client, batch.id, ("cancelled", "completed"))
    row = {
        "round": n,
        "without_batch": {"p50_ms": plain.p50_ms, "p99_ms": plain.p99_ms,
                          "rps": plain.requests_per_s, "other_cpu": plain.other_cpu},
        "with_batch": {"p50_ms": loaded.p50_ms, "p99_ms": loaded.p99_ms,
                       "rps": loaded.requests_per_s, "other_cpu": loaded.other_cpu},
        "p99_ratio": loaded.p99_ms / plain.p99_ms,
        "batch_lines_per_s_under_load": under_load,
        "batch_lines_per_s_alone": alone,
        "errors": plain.errors + loaded.errors,
    }  # fmt: skip
    print(
        f"  round {n}: p99 {plain.p99_ms:.1f} -> {loaded.p99_ms:.1f} ms "
        f"(x{row['p99_ratio']:.2f}); p50 {plain.p50_ms:.1f} -> {loaded.p50_ms:.1f} ms; "
        f"batch {under_load:.0f} lines/s under load, {alone:.0f} alone; "
        f"other cpu {plain.other_cpu:.2f}/{loaded.other_cpu:.2f} cores",
        flush=True,
    )
    return row


def main() -> None:
    require_wrk()
    with tempfile.TemporaryDirectory() as data_dir:
        command = [*MMSERVE, "--data-dir", data_dir]
        print(f"mmserve: {' '.join(command[1:])}; wrk c={CONCURRENCY}, {MEASURE_S:g} s per phase")
        with Server("mmserve", command) as server:
            server.check_embedding()
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
            upload = client.files.create(
                file=("b.jsonl", io.BytesIO(batch_file())), purpose="batch"
            )
            rounds = [one_round(server, client, upload.id, n) for n in range(ROUNDS)]
    ratio = statistics.median(r["p99_ratio"] for r in rounds)
    verdict = "meets" if ratio <= TARGET_P99_RATIO else "misses"
    print(f"\nmedian p99 ratio with/without a batch: {ratio:.2f} ({verdict} <= {TARGET_P99_RATIO})")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "batches.json"
    path.write_text(json.dumps({"rounds": rounds, "median_p99_ratio": ratio}, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

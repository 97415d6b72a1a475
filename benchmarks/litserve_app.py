"""A peer: LitServe serving the same MiniLM int8 model as mmserve's `minilm`.

The same tokenizer.json and ONNX file, loaded through mmserve's own model class (so the
tokenising, padding, session options and pooling are identical); LitServe does the HTTP,
the batching (max_batch_size 32, a 2 ms window, as issue 17 measured it) and the workers
(2 inference processes of one thread each, as mmserve's 2 single-threaded workers). It
answers POST /v1/embeddings in OpenAI's shape and GET /readyz, so `served.Server` and wrk
drive it like the others. Run it as

    .venv/bin/python benchmarks/litserve_app.py --port 8002

LitServe is in the `bench` extra (pip install -e '.[bench]'; `make bench` installs it).
"""

from __future__ import annotations

import argparse
from typing import Any

import litserve as ls
from workload import MODEL_ID

MAX_BATCH_SIZE = 32
BATCH_TIMEOUT_S = 0.002
WORKERS = 2


class MiniLMAPI(ls.LitAPI):  # type: ignore[misc]
    def setup(self, device: str) -> None:
        from mmserve.models.registry import create_model

        self.model = create_model(MODEL_ID, MODEL_ID)
        self.model.load()

    # No annotation on `request`: LitServe builds its FastAPI route from it, and a string
    # annotation (postponed evaluation) would make the body a query parameter.
    def decode_request(self, request, **kwargs: Any) -> Any:  # type: ignore[no-untyped-def]
        return self.model.preprocess(request["input"])

    def predict(self, batch: list[Any], **kwargs: Any) -> Any:
        return self.model.forward(batch)

    def encode_response(self, output: Any, **kwargs: Any) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": output.tolist()}],
            "model": MODEL_ID,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args()
    api = MiniLMAPI(
        max_batch_size=MAX_BATCH_SIZE, batch_timeout=BATCH_TIMEOUT_S, api_path="/v1/embeddings"
    )
    server = ls.LitServer(
        api, accelerator="cpu", workers_per_device=args.workers, healthcheck_path="/readyz"
    )
    server.run(host=args.host, port=args.port, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()

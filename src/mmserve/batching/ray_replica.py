"""One model replica as a Ray Serve deployment: the model contract and its ModelRunner.

Why the existing ModelRunner rather than `@serve.batch`: the runner batches by *item*, not
by request (one embeddings call with 100 texts and 30 calls with one text share batches
alike), refuses a request whole when its items do not fit `queue_size` (429), drops items
whose deadline passed, and retries a failed batch item by item so that one poison input
fails only its own request. `@serve.batch` batches whole calls and has none of those, so a
replica would answer differently from the in-process server. `infer` is a coroutine that
awaits the runner's futures, so one replica takes up to `max_ongoing_requests` calls at once
and its inference workers batch across all of them, whichever ingress sent them.

The ingress preprocesses (tokenises, decodes), batches and sends payloads; the replica runs
`forward` in its batcher, merging batches from every ingress, and answers a `Reply`: per
item the output or that item's MMServeError (so one poison input fails only its request, as
in-process), or one error for the whole call (its batcher full: 429), plus its queue depth,
which the ingress shows per replica in /metrics. The ingress runs `postprocess`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ray import serve

from mmserve.batching.runner import ModelRunner, ModelState
from mmserve.config import ModelConfig
from mmserve.errors import DeadlineExceeded, MMServeError, ModelFailed
from mmserve.models.registry import create_model


@dataclass
class Reply:
    replica: str
    queue_depth: int
    # one per payload: forward's output, or the MMServeError that item failed with
    outputs: list[Any] = field(default_factory=list)
    error: MMServeError | None = None  # the call as a whole was refused (full, not ready)


class ModelReplica:
    def __init__(self, model_config: ModelConfig):
        model = create_model(model_config.id, model_config.source)
        self.runner = ModelRunner(model, model_config)
        self.runner.start(wait=True)
        if self.runner.state is ModelState.FAILED:
            # Serve marks the replica unhealthy and retries it; the ingress sees no replica.
            raise RuntimeError(f"model {model_config.id!r} failed to load: {self.runner.error}")
        self.replica = serve.get_replica_context().replica_id.unique_id

    async def infer(
        self, payloads: Sequence[Any], timeout_s: float, request_id: str | None = None
    ) -> Reply:
        """Forward outputs for an ingress's batch of preprocessed payloads, item by item."""
        try:
            futures = self.runner.submit(payloads, timeout_s, request_id)
        except MMServeError as e:
            return self._reply(error=e)
        waiting = asyncio.gather(*(asyncio.wrap_future(f) for f in futures), return_exceptions=True)
        try:
            results = await asyncio.wait_for(waiting, timeout_s)
        except TimeoutError:
            for f in futures:
                f.cancel()  # pending items are skipped by the workers
            return self._reply(error=DeadlineExceeded(f"model {self.runner.model.id!r} timed out"))
        return self._reply(outputs=[_item(r, self.runner.model.id) for r in results])

    def check_health(self) -> None:
        """Serve calls this periodically; raising restarts the replica."""
        if self.runner.state is ModelState.FAILED:
            raise RuntimeError(f"model {self.runner.model.id!r} failed: {self.runner.error}")

    def __del__(self) -> None:
        self.runner.stop()

    def _reply(self, **fields: Any) -> Reply:
        return Reply(self.replica, self.runner.queue.qsize(), **fields)


def _item(result: Any, model_id: str) -> Any:
    if isinstance(result, MMServeError):
        return result
    if isinstance(result, BaseException):  # the runner sets MMServeErrors only; be safe
        return ModelFailed(f"model {model_id} raised {type(result).__name__}")
    return result

"""One model behind one queue and its single-threaded inference workers.

Request threads preprocess items and `submit` them; workers take whole batches with
`collect_batch` and run `forward`; request threads wait for their futures and postprocess.
So tokenising and decoding overlap the forward pass, after infinity's batch handler.

At most `workers` forward passes run at once (one slot each). A request that finds a slot
free and nothing queued runs its batch on its own thread: an idle worker would have taken it
alone at once anyway, and this skips two thread hand-offs (a median of ~1 ms per request
measured on the 2-core development machine, see docs/benchmarks.md).

Fairness: a request bigger than one batch (more than max_batch_size items, or more than
max_batch_tokens padded tokens) goes to the queue's bulk lane; workers take the urgent lane
first, batches are bounded by padded tokens as well as by items, and one worker stays off
bulk work while short requests come. So a 2,048-input request runs as many small batches
beside short requests, which no longer wait behind all of it (docs/serving.md, Fairness).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from mmserve.batching.collect import collect_batch
from mmserve.batching.queue import BatchQueue, QueueFull
from mmserve.config import ModelConfig
from mmserve.errors import Conflict, DeadlineExceeded, ModelFailed, ModelNotReady, Overloaded
from mmserve.metrics import Metrics
from mmserve.models.base import Model

log = logging.getLogger("mmserve.batching")

POLL_S = 0.5  # how often an idle worker checks for shutdown
# A load that fails on something that may pass (file system trouble: a cache file being
# replaced, a full disk, a busy lock; memory short for a moment) is tried again after these
# pauses before the model is FAILED. Other errors (a bad setting, a missing package, a broken
# checkpoint, a bug) would fail the same way again, so they fail at once.
LOAD_RETRY_PAUSES_S = (2.0, 10.0)
# The worker kept free of bulk work takes some too after this long without a short request.
# Long, because a short one that then comes waits for that bulk batch, and because under
# steady short traffic a brief gap must not hand it over: measured with 50 ms, gaps of c=4
# traffic let it take bulk, the next short requests waited, the gaps grew (p50 x20).
URGENT_GRACE_S = 1.0
TRANSIENT_LOAD_ERRORS = (OSError, MemoryError, TimeoutError)
OUTCOMES = {
    Overloaded: "overloaded",
    DeadlineExceeded: "timeout",
    ModelNotReady: "not_ready",
    ModelFailed: "error",
}


class ModelState(enum.StrEnum):
    LOADING = "loading"
    READY = "ready"
    DEGRADED = "degraded"  # loaded, but its last batch failed on every item
    FAILED = "failed"  # could not load; never serves


@dataclass
class WorkItem:
    payload: Any
    deadline: float  # time.monotonic() past which the result is no use
    request_id: str | None = None
    tokens: int = 0  # the model's count_tokens: the item's cost in a padded batch
    enqueued_at: float = field(default_factory=time.monotonic)
    future: Future[Any] = field(default_factory=Future)


class ModelRunner:
    def __init__(self, model: Model, config: ModelConfig, metrics: Metrics | None = None):
        self.model = model
        self.config = config
        self.metrics = metrics or Metrics()
        self.queue: BatchQueue[WorkItem] = BatchQueue(config.queue_size)
        self.state = ModelState.LOADING
        self.error: str | None = None
        self._stopping = threading.Event()
        self._reload_lock = threading.Lock()
        self._bulk_lock = threading.Lock()
        self._bulk_running = 0  # workers running a bulk batch now
        self._threads: list[threading.Thread] = []
        self._slots = threading.Semaphore(config.workers)  # forward passes running at once
        self._last_forward_s = 0.0  # how long the last forward pass took
        self.metrics.track_queue_depth(model.id, self.queue.qsize)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, wait: bool = False) -> None:
        """Load and warm the model in the background, then start the workers."""
        loader = threading.Thread(target=self._load, name=f"load-{self.model.id}", daemon=True)
        loader.start()
        if wait:
            loader.join()

    def reload(self) -> None:
        """Load again a model whose load failed, once its cause is fixed (a file put back,
        memory freed), without restarting the server: the same load, retries and warm-up as
        at start, in the background. A model that is loading or loaded is left alone."""
        with self._reload_lock:
            if self.state is not ModelState.FAILED:
                raise Conflict(
                    f"model {self.model.id!r} is {self.state.value}; only a model that "
                    "failed to load is reloaded",
                    code="model_not_failed",
                )
            self.state = ModelState.LOADING
            self.error = None
        self.start()

    def stop(self) -> None:
        self._stopping.set()
        self.queue.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _load(self) -> None:
        started = time.monotonic()
        pauses = LOAD_RETRY_PAUSES_S  # read at each load, so tests can shorten them
        for attempt, pause_s in enumerate((*pauses, None), start=1):
            try:
                self.model.load()
                warm = [self.model.preprocess(x) for x in self.model.warmup_inputs()]
                warm_started = time.monotonic()
                self.model.forward(warm)
                self._last_forward_s = time.monotonic() - warm_started
                break
            except Exception as e:
                log.exception("model %s failed to load (attempt %d)", self.model.id, attempt)
                self.error = f"{type(e).__name__}: {e}"
                if pause_s is None or not isinstance(e, TRANSIENT_LOAD_ERRORS):
                    self.state = ModelState.FAILED
                    return
                # Still LOADING: /readyz names the error and the next attempt meanwhile.
                self.error += f" (attempt {attempt}; retrying in {pause_s:g} s)"
                if self._stopping.wait(pause_s):
                    return
        self.error = None
        for index in range(self.config.workers):
            thread = threading.Thread(
                target=self._work, name=f"infer-{self.model.id}-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self.state = ModelState.READY
        log.info("model %s ready in %.2f s", self.model.id, time.monotonic() - started)

    # --- request side ------------------------------------------------------------------

    def infer(
        self, payloads: Sequence[Any], timeout_s: float, request_id: str | None = None
    ) -> list[Any]:
        """Run preprocessed payloads through the batcher; return postprocessed outputs."""
        try:
            futures = self.submit(payloads, timeout_s, request_id, may_run_here=True)
            outputs = self._wait(futures, timeout_s)
        except (Overloaded, DeadlineExceeded, ModelNotReady, ModelFailed) as e:
            self.metrics.count_request(self.model.id, OUTCOMES[type(e)])
            raise
        self.metrics.count_request(self.model.id, "ok")
        return [self.model.postprocess(output) for output in outputs]

    def submit(
        self,
        payloads: Sequence[Any],
        timeout_s: float,
        request_id: str | None = None,
        *,
        may_run_here: bool = False,
    ) -> list[Future[Any]]:
        """Queue payloads for the workers; futures of their outputs. `may_run_here`: the
        caller is a thread that would block on the futures anyway (not an event loop), so
        the batch may run on it when a slot is free (see the module docstring)."""
        if self.state in (ModelState.LOADING, ModelState.FAILED):
            raise ModelNotReady(
                f"model {self.model.id!r} is {self.state.value}; see GET /readyz for its status"
            )
        deadline = time.monotonic() + timeout_s
        count = self.model.count_tokens
        items = [WorkItem(payload, deadline, request_id, count(payload)) for payload in payloads]
        if may_run_here and self._ran_here(items, timeout_s):
            return [item.future for item in items]
        try:
            self.queue.put_many(items, bulk=not self._fits_one_batch(items))
        except QueueFull:
            raise Overloaded(
                f"model {self.model.id!r} has {self.config.queue_size} items queued, its "
                f"queue_size limit; retry after a second or send fewer inputs",
                retry_after_s=1,
            ) from None
        return [item.future for item in items]

    def _ran_here(self, items: list[WorkItem], timeout_s: float) -> bool:
        """Run `items` on the calling thread if a worker slot is free and no other items
        wait: then batching has nothing to gain from the hand-off. Not when the model is set
        to wait for more items (max_wait_ms > 0), nor when the items exceed one batch, nor
        when the last forward pass took more than half the request's time: a pass on the
        caller's thread cannot be abandoned at the deadline as a queued one is. The items
        must fit one batch, by count and by tokens (a bulk request goes to its lane)."""
        if (
            self.config.max_wait_ms > 0
            or self._last_forward_s > timeout_s / 2
            or self._stopping.is_set()
            or not self._fits_one_batch(items)
            or self.queue.qsize()
            or not self._slots.acquire(blocking=False)
        ):
            return False
        try:
            self._run(items)
        finally:
            self._slots.release()
        return True

    def _fits_one_batch(self, items: list[WorkItem]) -> bool:
        if len(items) > self.config.max_batch_size:
            return False
        return padded_tokens(items) <= self.config.max_batch_tokens

    def _wait(self, futures: list[Future[Any]], timeout_s: float) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        try:
            return [f.result(timeout=max(0.0, deadline - time.monotonic())) for f in futures]
        except FutureTimeout:
            for f in futures:
                f.cancel()  # pending items are skipped by the workers
            raise DeadlineExceeded(
                f"model {self.model.id!r} did not answer within request_timeout_s "
                f"({timeout_s:g} s); the server is busy or the input is very large"
            ) from None

    # --- worker side -------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            bulk = self.queue.wait_for_lane(POLL_S, self._may_take_bulk)
            if bulk is None:
                continue
            if not bulk:
                self._collect_and_run(bulk=False)
                continue
            with self._bulk_lock:
                if not self._may_take_bulk():
                    continue  # another worker took the bulk turn meanwhile
                self._bulk_running += 1
            try:
                self._collect_and_run(bulk=True)
            finally:
                with self._bulk_lock:
                    self._bulk_running -= 1

    def _may_take_bulk(self) -> bool:
        """All but one worker may run bulk batches: the last stays free for short requests,
        which then wait for no bulk batch. It takes bulk too once no short request came for
        URGENT_GRACE_S, so a big request alone uses every worker. A lone worker runs bulk
        whenever the urgent lane is empty (wait_for_lane looks there first). Workers are the
        threads running _work: RemoteRunner (Ray) runs more senders than `workers`."""
        workers = max(1, len(self._threads))
        if workers == 1 or self._bulk_running < workers - 1:
            return True
        quiet_s = time.monotonic() - self.queue.last_urgent_put
        return self._bulk_running < workers and quiet_s > URGENT_GRACE_S

    def _collect_and_run(self, bulk: bool) -> None:
        max_tokens = self.config.max_batch_tokens

        def fits(batch: list[WorkItem], item: WorkItem) -> bool:
            return padded_tokens([*batch, item]) <= max_tokens

        batch = collect_batch(
            self.queue.lane(bulk),
            self.config.max_batch_size,
            self.config.max_wait_ms / 1000,
            first_timeout_s=0,
            fits=fits,
        )
        if batch:
            with self._slots:
                self._run(batch)

    def _run(self, batch: list[WorkItem]) -> None:
        now = time.monotonic()
        live = []
        for item in batch:
            if not item.future.set_running_or_notify_cancel():
                continue  # its request gave up already
            if now > item.deadline:
                item.future.set_exception(DeadlineExceeded("expired while queued"))
                continue
            live.append(item)
        if not live:
            return
        started = time.monotonic()
        succeeded = self._forward(live)
        self._last_forward_s = time.monotonic() - started
        self.metrics.observe_batch(
            self.model.id,
            len(live),
            self._last_forward_s,
            [started - item.enqueued_at for item in live],
        )
        if self.state in (ModelState.READY, ModelState.DEGRADED):
            self.state = ModelState.READY if succeeded else ModelState.DEGRADED

    def _forward(self, items: list[WorkItem]) -> bool:
        """Run items as one batch; if it raises, run them one by one so that one poison
        input fails only its own request. True if any item succeeded."""
        try:
            outputs = self.model.forward([item.payload for item in items])
            if len(outputs) != len(items):
                raise RuntimeError(f"forward returned {len(outputs)} outputs for {len(items)}")
        except Exception as e:
            if len(items) > 1:
                log.warning(
                    "batch of %d failed on model %s (%s); retrying item by item",
                    len(items),
                    self.model.id,
                    e,
                )
                return any([self._forward([item]) for item in items])
            item = items[0]
            log.error(
                "model %s failed on an input of request %s",
                self.model.id,
                item.request_id,
                exc_info=e,
            )
            item.future.set_exception(ModelFailed(f"model {self.model.id} raised {e!r}"))
            return False
        for item, output in zip(items, outputs, strict=True):
            item.future.set_result(output)
        return True

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "error": self.error,
            "queue_depth": self.queue.qsize(),
            "batching": {
                "max_batch_size": self.config.max_batch_size,
                "max_batch_tokens": self.config.max_batch_tokens,
                "max_wait_ms": self.config.max_wait_ms,
                "queue_size": self.config.queue_size,
                "workers": self.config.workers,
            },
        }


def padded_tokens(items: list[WorkItem]) -> int:
    """What a batch of texts costs the model: every row is padded to the longest."""
    return len(items) * max((item.tokens for item in items), default=0)

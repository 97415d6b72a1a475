"""The "batch" job: run an OpenAI-format batch file's lines against one endpoint.

Created by POST /v1/batches (services/batches.py), not by hand. Each line goes through the
server's own route (`ctx.dispatch`, which waits while clients' requests are in flight, so
a batch fills idle time instead of queueing ahead of them). Resumable: the result files
record which lines are done (services/batch_work.py), so a batch restarted after a crash
skips them and no line runs twice or is lost.
"""

from __future__ import annotations

import queue
import threading
import time
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict

from mmserve.errors import InvalidRequest
from mmserve.jobs.registry import job_type
from mmserve.jobs.runner import JobContext, JobStopped
from mmserve.services.batch_work import BatchResults, LineResult, input_lines, run_line
from mmserve.services.batches import (
    BATCH_ID_PREFIX,
    BATCH_JOB_TYPE,
    file_store,
    output_file_ids,
    results_folder,
)

CHECKPOINT_S = 0.5  # how often progress is saved (and a cancel noticed)
# Lines sent at once: on an idle server they meet in one model batch (one line at a time
# left the model mostly idle); each still waits for clients first (api/low_priority.py).
LINES_IN_FLIGHT = 4


class BatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] = {}
    total: int = 0
    # Who created it (Principal.owner(): a key id or an OIDC subject + scopes; None with auth
    # off). Every line runs as that principal, never unauthenticated.
    owner: dict[str, Any] | None = None


@job_type(BATCH_JOB_TYPE, params=BatchParams, description="An OpenAI-format batch (/v1/batches)")
def run_batch(ctx: JobContext, params: BatchParams) -> dict[str, Any]:
    if ctx.dispatch is None:
        raise InvalidRequest("batches run inside `mmserve serve`; this runner has no server")
    files = file_store(ctx.config.data_dir)
    source = files.content_path(params.input_file_id)
    results = BatchResults(results_folder(ctx.config.data_dir, ctx.job.id))
    done = results.recover()
    batch_id = BATCH_ID_PREFIX + ctx.job.id
    saved_at = time.monotonic()
    lines = _LineWorkers(LINES_IN_FLIGHT, run_line)
    dispatch = partial(ctx.dispatch, owner=params.owner)

    def keep(result: LineResult) -> None:
        results.append(result)
        done.add(result.line)

    try:
        for number, raw in input_lines(source):
            if number in done:
                continue
            if lines.in_flight >= LINES_IN_FLIGHT:
                keep(lines.take())
            lines.send(batch_id, number, raw, params.endpoint, dispatch)
            if time.monotonic() - saved_at >= CHECKPOINT_S:
                results.sync()
                ctx.progress(len(done), params.total)
                saved_at = time.monotonic()
        while lines.in_flight:
            keep(lines.take())
    except JobStopped:
        while lines.in_flight:  # lines already sent are done work: record them
            keep(lines.take())
        results.sync()
        if not ctx.stopping.is_set():  # cancelled: keep what finished, as OpenAI does
            ctx.store.jobs.update(ctx.job.id, result=_publish(ctx, results))
        raise
    finally:
        lines.close()
    results.sync()
    ctx.progress(len(done), params.total)
    return _publish(ctx, results)


class _LineWorkers:
    """A few daemon threads running lines, started with the batch. Not a ThreadPoolExecutor:
    that one refuses work once the interpreter begins to exit, which a server worker does
    before its job runner is told to stop, and the batch would fail instead of being left
    to resume. A line cut off by the exit is not in the result files, so it runs again."""

    def __init__(self, count: int, work: Any):
        self.work = work
        self.in_flight = 0
        self._inbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._outbox: queue.Queue[tuple[LineResult | None, BaseException | None]] = queue.Queue()
        for index in range(count):
            name = f"batch-line-{index}"
            threading.Thread(target=self._loop, name=name, daemon=True).start()
        self._count = count

    def send(self, *args: Any) -> None:
        self.in_flight += 1
        self._inbox.put(args)

    def take(self) -> LineResult:
        result, error = self._outbox.get()
        self.in_flight -= 1
        if error is not None:
            raise error
        assert result is not None
        return result

    def close(self) -> None:
        for _ in range(self._count):
            self._inbox.put(None)

    def _loop(self) -> None:
        while (args := self._inbox.get()) is not None:
            try:
                self._outbox.put((self.work(*args), None))
            except BaseException as e:  # re-raised in the job's thread by take()
                self._outbox.put((None, e))


def _publish(ctx: JobContext, results: BatchResults) -> dict[str, Any]:
    """Store the result files as files of purpose batch_output; their ids."""
    files = file_store(ctx.config.data_dir)
    output_id, error_id = output_file_ids(ctx.job.id)
    published: dict[str, Any] = {"output_file_id": None, "error_file_id": None}
    for key, path, file_id in (
        ("output_file_id", results.output, output_id),
        ("error_file_id", results.errors, error_id),
    ):
        if path.exists() and path.stat().st_size > 0:
            name = f"{BATCH_ID_PREFIX}{ctx.job.id}_{path.stem}.jsonl"
            files.adopt(
                path,
                file_id=file_id,
                filename=name,
                purpose="batch_output",
                owner=ctx.job.params.get("owner"),  # its creator may read it, like the batch
            )
            published[key] = file_id
    return published

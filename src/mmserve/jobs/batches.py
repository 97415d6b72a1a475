"""The "batch" job: run an OpenAI-format batch file's lines against one endpoint.

Created by POST /v1/batches (services/batches.py), not by hand. Each line goes through the
server's own route (`ctx.dispatch`, which waits while clients' requests are in flight, so
a batch fills idle time instead of queueing ahead of them). Resumable: the result files
record which lines are done (services/batch_work.py), so a batch restarted after a crash
skips them and no line runs twice or is lost.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from mmserve.errors import InvalidRequest
from mmserve.jobs.registry import job_type
from mmserve.jobs.runner import JobContext, JobStopped
from mmserve.services.batch_work import BatchResults, input_lines, run_line
from mmserve.services.batches import (
    BATCH_ID_PREFIX,
    BATCH_JOB_TYPE,
    file_store,
    output_file_ids,
    results_folder,
)

CHECKPOINT_S = 0.5  # how often progress is saved (and a cancel noticed)


class BatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] = {}
    total: int = 0


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
    try:
        for number, raw in input_lines(source):
            if number in done:
                continue
            results.append(run_line(batch_id, number, raw, params.endpoint, ctx.dispatch))
            done.add(number)
            if time.monotonic() - saved_at >= CHECKPOINT_S:
                results.sync()
                ctx.progress(len(done), params.total)
                saved_at = time.monotonic()
    except JobStopped:
        if not ctx.stopping.is_set():  # cancelled: keep what finished, as OpenAI does
            results.sync()
            ctx.store.jobs.update(ctx.job.id, result=_publish(ctx, results))
        raise
    results.sync()
    ctx.progress(len(done), params.total)
    return _publish(ctx, results)


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
            files.adopt(path, file_id=file_id, filename=name, purpose="batch_output")
            published[key] = file_id
    return published

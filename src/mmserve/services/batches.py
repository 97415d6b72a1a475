"""OpenAI's Batch API over mmserve's durable jobs: create, read, list and cancel batches.

A batch is a job of type "batch" (jobs/batches.py runs it); its id is "batch_" + the job
id, so GET /v1/jobs shows batches too. What OpenAI's batch object says is derived from the
job record and the batch's result files, never stored twice:

    job state                 batch status
    queued                    validating
    running, interrupted      in_progress   (cancelling once a cancel was asked)
    succeeded                 completed
    failed                    failed
    cancelled                 cancelled
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmserve.errors import Forbidden, InvalidRequest, NotFound, PayloadTooLarge
from mmserve.services.batch_work import BatchResults, count_input_lines
from mmserve.store.files import FileRecord, FileStore
from mmserve.store.jobs import Job, JobStore

BATCH_JOB_TYPE = "batch"
BATCH_ID_PREFIX = "batch_"
COMPLETION_WINDOWS = ("24h",)  # OpenAI's only window; recorded, not enforced (see docs)
EXPIRES_AFTER_S = 24 * 3600
MAX_BATCH_LINES = 50_000  # OpenAI's limit per batch
# Routes a batch may target, when the server has them: OpenAI's, then mmserve's own.
BATCH_ENDPOINTS = (
    "/v1/embeddings",
    "/v1/chat/completions",
    "/v1/classifications",
    "/v1/images/captions",
    "/v1/images/ocr",
    "/v1/audio/classifications",
    "/v1/audio/transcriptions",
    "/v1/predict",
)
STATUS = {
    "queued": "validating",
    "running": "in_progress",
    "interrupted": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


def results_folder(data_dir: Path, job_id: str) -> Path:
    return Path(data_dir) / "batches" / job_id


def output_file_ids(job_id: str) -> tuple[str, str]:
    """The ids the output and error files get: fixed per batch, so that finishing a batch
    twice (a crash between storing them and marking the job done) stores them once."""
    return f"file-{job_id}-output", f"file-{job_id}-errors"


@dataclass(frozen=True)
class BatchService:
    jobs: JobStore
    files: FileStore
    data_dir: Path
    endpoints: tuple[str, ...]  # the BATCH_ENDPOINTS this server has routes for
    # The caller's Principal.owner() when it may see only its own batches (auth on, not
    # admin); None: every batch. Others' batches read as not found.
    viewer: dict[str, Any] | None = None

    def create(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None = None,
        owner: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`owner`: who the lines run as (Principal.owner()); None with auth off."""
        if endpoint not in self.endpoints:
            raise InvalidRequest(
                f"endpoint {endpoint!r} cannot be batched here; one of: "
                + ", ".join(self.endpoints),
                param="endpoint",
                code="unsupported_endpoint",
            )
        if completion_window not in COMPLETION_WINDOWS:
            raise InvalidRequest(
                f"completion_window must be one of {', '.join(COMPLETION_WINDOWS)}",
                param="completion_window",
            )
        record = own_file(self.files.get(input_file_id), self.viewer)
        if record.purpose != "batch":
            raise InvalidRequest(
                f"file {input_file_id!r} has purpose {record.purpose!r}; upload the input "
                "with purpose 'batch'",
                param="input_file_id",
            )
        lines = count_input_lines(self.files.content_path(input_file_id))
        if lines == 0:
            raise InvalidRequest(f"file {input_file_id!r} has no lines", param="input_file_id")
        if lines > MAX_BATCH_LINES:
            raise PayloadTooLarge(
                f"file {input_file_id!r} has {lines:,} lines; a batch takes at most "
                f"{MAX_BATCH_LINES:,}: split it",
                param="input_file_id",
            )
        params = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
            "metadata": metadata or {},
            "total": lines,
            "owner": owner,
        }
        return self.describe(self.jobs.create(BATCH_JOB_TYPE, params))

    def get(self, batch_id: str) -> dict[str, Any]:
        return self.describe(self._job(batch_id))

    def list(self, *, limit: int = 20, after: str | None = None) -> Iterable[dict[str, Any]]:
        """Newest first; `after` a batch id: those older than it."""
        jobs = [j for j in self.jobs.list(type=BATCH_JOB_TYPE, limit=10_000) if self._sees(j)]
        if after is not None:
            ids = [j.id for j in jobs]
            cut = self._job_id(after)
            if cut not in ids:
                raise NotFound(f"batch {after!r} does not exist", param="after")
            jobs = jobs[ids.index(cut) + 1 :]
        return [self.describe(job) for job in jobs[:limit]]

    def cancel(self, batch_id: str) -> dict[str, Any]:
        return self.describe(self.jobs.request_cancel(self._job(batch_id).id))

    def describe(self, job: Job) -> dict[str, Any]:
        """The batch as OpenAI's batch object."""
        params = job.params
        status = STATUS[job.state]
        if job.cancel_requested and job.state in ("running", "interrupted"):
            status = "cancelling"
        completed, failed = BatchResults(results_folder(self.data_dir, job.id)).counts()
        result = job.result or {}
        ended = int(job.updated_at) if job.state in ("succeeded", "failed", "cancelled") else None
        return {
            "id": BATCH_ID_PREFIX + job.id,
            "object": "batch",
            "endpoint": params["endpoint"],
            "errors": _errors(job),
            "input_file_id": params["input_file_id"],
            "completion_window": params["completion_window"],
            "status": status,
            "output_file_id": result.get("output_file_id"),
            "error_file_id": result.get("error_file_id"),
            "created_at": int(job.created_at),
            "in_progress_at": None if job.state == "queued" else int(job.updated_at),
            "expires_at": int(job.created_at) + EXPIRES_AFTER_S,
            "finalizing_at": None,
            "completed_at": ended if job.state == "succeeded" else None,
            "failed_at": ended if job.state == "failed" else None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": ended if job.state == "cancelled" else None,
            "request_counts": {
                "total": params.get("total", 0),
                "completed": completed,
                "failed": failed,
            },
            "metadata": params.get("metadata") or None,
        }

    def _job(self, batch_id: str) -> Job:
        try:
            job = self.jobs.get(self._job_id(batch_id))
        except NotFound:
            job = None
        if job is None or job.type != BATCH_JOB_TYPE or not self._sees(job):
            raise NotFound(f"batch {batch_id!r} does not exist", param="batch_id")
        return job

    def _sees(self, job: Job) -> bool:
        return job_visible_to(job, self.viewer)

    @staticmethod
    def _job_id(batch_id: str) -> str:
        return batch_id.removeprefix(BATCH_ID_PREFIX)


def job_visible_to(job: Job, viewer: dict[str, Any] | None) -> bool:
    """A batch's job is its creator's (and an admin's, and everyone's with auth off: viewer
    None), through /v1/batches and /v1/jobs alike; any other job is everyone's."""
    return (
        job.type != BATCH_JOB_TYPE
        or viewer is None
        or same_creator(job.params.get("owner"), viewer)
    )


def same_creator(owner: dict[str, Any] | None, viewer: dict[str, Any]) -> bool:
    """A key by its id (a rotated key is the same key), an OIDC subject by its name."""
    if owner is None or owner.get("kind") != viewer.get("kind"):
        return False
    field = "key_id" if owner["kind"] == "key" else "name"
    return owner.get(field) == viewer.get(field)


def own_file(record: FileRecord, viewer: dict[str, Any] | None) -> FileRecord:
    """The record if `viewer` (BatchService.viewer: None sees all) may use it: files are
    their creator's, like batches. Another key's file is a 403, as a restricted collection
    is (its id, 96 random bits, says nothing), and is left out of listings."""
    if viewer is not None and not same_creator(record.owner, viewer):
        raise Forbidden(
            f"file {record.id!r} belongs to another key; only its creator or an admin may "
            "read, use or delete it",
            param="file_id",
            code="file_forbidden",
        )
    return record


def _errors(job: Job) -> dict[str, Any] | None:
    if job.error is None:
        return None
    return {"object": "list", "data": [{"code": "batch_failed", "message": job.error}]}


def file_store(data_dir: Path) -> FileStore:
    """The data directory's /v1/files store."""
    return FileStore(Path(data_dir) / "files")

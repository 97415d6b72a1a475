"""Background jobs over HTTP: POST /v1/jobs (202), GET /v1/jobs[/{id}], DELETE to cancel.

Jobs are records in the search store, so they survive restarts; the app's JobRunner
(mmserve.jobs, built by create_app) runs them one at a time in a background thread, and
resumes interrupted ones when the app starts. Job types come from mmserve.jobs.registry
("index", ...).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas.jobs import JobCreate, JobList, JobOut
from mmserve.api.security import own_only, security
from mmserve.errors import InvalidRequest, NotFound
from mmserve.jobs import get_job_type, parse_params
from mmserve.media import metering
from mmserve.services.batches import BATCH_JOB_TYPE, job_visible_to
from mmserve.services.deidentify import wants_faces
from mmserve.store import Job

bp = Blueprint("jobs", __name__)
MAX_LIST = 1000


# what the training_jobs quota counts: every job that trains a model (not "index")
INDEX_JOB_TYPE = "index"  # jobs/index.py: the one job type that writes a collection's items
TRAINING_JOBS = ("fusion-train", "align", "fusion-pretrain", "fusion-distill")


@bp.post("/v1/jobs")
@operation(
    "Start a job",
    tags=["jobs"],
    request=JobCreate,
    response=JobOut,
    errors=(400, 404, 422, 503),
    status=202,
)
def create_job() -> Any:
    """Answers 202 with the queued job; poll GET /v1/jobs/{id} for progress and result."""
    body = parse_body(JobCreate)
    svc = services()
    kind = get_job_type(body.type)
    if kind.name == BATCH_JOB_TYPE:
        # A batch's params name who its lines run as; only POST /v1/batches may set that
        # (from the caller's own credential), or a caller could run lines as another key.
        raise InvalidRequest(
            "batches are created with POST /v1/batches, not as a job", param="type"
        )
    params = parse_params(kind, body.params)
    if kind.name == INDEX_JOB_TYPE:
        _with_collection_deidentify(params)
    if kind.check is not None:
        kind.check(params, svc.config)
    job = svc.store.jobs.create(kind.name, params.model_dump(mode="json"))
    if kind.name in TRAINING_JOBS:
        metering.add("training_jobs", 1)
    svc.jobs.wake()
    return jsonify(job_json(job)), 202


def _with_collection_deidentify(params: Any) -> None:
    """A collection made with `deidentify` strips it from every write, files an index job
    reads included; 503 now if "faces" cannot be done, not once the job runs."""
    kinds = {*params.deidentify, *security().access.deidentify(params.collection)}
    wants_faces(kinds)
    params.deidentify = sorted(kinds)


@bp.get("/v1/jobs")
@operation("List jobs, newest first", tags=["jobs"], response=JobList, errors=(400,))
def list_jobs() -> Any:
    """`?state=` and `?type=` filter; `?limit=` (1-1000, default 100)."""
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIST}", param="limit")
    jobs = services().store.jobs.list(
        state=request.args.get("state"), type=request.args.get("type"), limit=int(raw)
    )
    viewer = own_only()
    return jsonify(object="list", data=[job_json(j) for j in jobs if job_visible_to(j, viewer)])


@bp.get("/v1/jobs/<job_id>")
@operation("One job: state, progress, result", tags=["jobs"], response=JobOut, errors=(404,))
def get_job(job_id: str) -> Any:
    return jsonify(job_json(_visible(services().store.jobs.get(job_id))))


@bp.delete("/v1/jobs/<job_id>")
@operation("Cancel a job", tags=["jobs"], response=JobOut, errors=(404,))
def cancel_job(job_id: str) -> Any:
    """A queued job is cancelled at once; a running one stops at its next checkpoint
    (cancel_requested is true until then). Finished jobs are left as they are."""
    _visible(services().store.jobs.get(job_id))
    return jsonify(job_json(services().store.jobs.request_cancel(job_id)))


def _visible(job: Job) -> Job:
    """Another key's batch job reads as not found, as its batch does."""
    if not job_visible_to(job, own_only()):
        raise NotFound(f"job {job.id!r} does not exist", param="job_id")
    return job


def job_json(job: Job) -> dict[str, Any]:
    return {
        "object": "job",
        "id": job.id,
        "type": job.type,
        "state": job.state,
        "progress": {"done": job.done, "total": job.total},
        "params": job.params,
        "result": job.result,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }

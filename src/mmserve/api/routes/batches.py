"""OpenAI's /v1/batches: run a JSONL file of requests in the background.

    POST /v1/batches {"input_file_id": "file-..", "endpoint": "/v1/embeddings",
                      "completion_window": "24h"}
    GET  /v1/batches/{id}   POST /v1/batches/{id}/cancel   GET /v1/batches

Batches are durable jobs (services/batches.py, jobs/batches.py); their lines run at a lower
priority than clients' requests (api/low_priority.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas.batches import BatchCreate, BatchEndpoints, BatchList, BatchOut
from mmserve.api.security import creator, own_only
from mmserve.errors import InvalidRequest
from mmserve.services.batches import BATCH_ENDPOINTS, BatchService, file_store

bp = Blueprint("batches", __name__)
MAX_LIST = 100


def batches() -> BatchService:
    svc = services()
    return BatchService(
        jobs=svc.store.jobs,
        files=file_store(svc.config.data_dir),
        data_dir=svc.config.data_dir,
        endpoints=served_endpoints(),
        viewer=own_only(),
    )


def served_endpoints() -> tuple[str, ...]:
    """The batchable endpoints this app has a POST route for (chat only once it exists)."""
    routes = {r.rule for r in current_app.url_map.iter_rules() if "POST" in (r.methods or ())}
    return tuple(e for e in BATCH_ENDPOINTS if e in routes)


@bp.post("/v1/batches")
@operation(
    "Start a batch", tags=["batches"], request=BatchCreate, response=BatchOut, errors=(400, 404)
)
def create_batch() -> Any:
    """Lines run one by one through `endpoint`; poll GET /v1/batches/{id}."""
    body = parse_body(BatchCreate)
    batch = batches().create(
        input_file_id=body.input_file_id,
        endpoint=body.endpoint,
        completion_window=body.completion_window,
        metadata=body.metadata,
        owner=creator(),
    )
    services().jobs.wake()
    return jsonify(batch)


@bp.get("/v1/batches")
@operation("List batches, newest first", tags=["batches"], response=BatchList, errors=(400,))
def list_batches() -> Any:
    """`?limit=` (1-100, default 20), `?after=<batch id>` for the next page."""
    raw = request.args.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIST}", param="limit")
    limit = int(raw)
    found = list(batches().list(limit=limit + 1, after=request.args.get("after")))
    page = found[:limit]
    return jsonify(
        object="list",
        data=page,
        first_id=page[0]["id"] if page else None,
        last_id=page[-1]["id"] if page else None,
        has_more=len(found) > limit,
    )


@bp.get("/v1/batches/endpoints")
@operation("The endpoints a batch may target here", tags=["batches"], response=BatchEndpoints)
def batch_endpoints() -> Any:
    return jsonify(object="list", data=list(served_endpoints()))


@bp.get("/v1/batches/<batch_id>")
@operation("One batch", tags=["batches"], response=BatchOut, errors=(404,))
def get_batch(batch_id: str) -> Any:
    return jsonify(batches().get(batch_id))


@bp.post("/v1/batches/<batch_id>/cancel")
@operation("Cancel a batch", tags=["batches"], response=BatchOut, errors=(404,))
def cancel_batch(batch_id: str) -> Any:
    """Lines finished so far stay in the output and error files."""
    return jsonify(batches().cancel(batch_id))

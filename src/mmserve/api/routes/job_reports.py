"""A finished job's HTML report (fusion training writes one), for the playground's link.

    GET /v1/jobs/{id}/report

Only a file named by the job's `result.report` and inside the data directory is served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, send_file

from mmserve.api.common import services
from mmserve.api.openapi import operation
from mmserve.errors import NotFound
from mmserve.files import confined

bp = Blueprint("job_reports", __name__)


@bp.get("/v1/jobs/<job_id>/report")
@operation("A job's HTML report", tags=["jobs"], content_type="text/html", errors=(404,))
def job_report(job_id: str) -> Any:
    svc = services()
    job = svc.store.jobs.get(job_id)
    named = job.result.get("report") if isinstance(job.result, dict) else None
    path = confined(named, [Path(svc.config.data_dir)]) if isinstance(named, str) else None
    if path is None or not path.is_file():
        raise NotFound(f"job {job_id!r} has no report", param="job_id")
    return send_file(path, mimetype="text/html", conditional=False)

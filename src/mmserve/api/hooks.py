"""Per-request plumbing: request ids, the body-size check, HTTP latency metrics."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, current_app, g, request

from mmserve.api.common import services
from mmserve.errors import PayloadTooLarge

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _begin() -> None:
    g.started_at = time.perf_counter()
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if _SAFE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        # Refused from the header, before a byte of the body is read.
        raise PayloadTooLarge(
            f"request body is {request.content_length} bytes; the limit is {limit} "
            "(limits.max_body_bytes)",
            code="body_too_large",
        )


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    route = request.url_rule.rule if request.url_rule else "unmatched"
    if "started_at" in g:
        services().metrics.http_latency.labels(
            method=request.method, route=route, status=str(response.status_code)
        ).observe(time.perf_counter() - g.started_at)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_finish)

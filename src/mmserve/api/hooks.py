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
UPLOAD_OVERHEAD_BYTES = 64 * 1024  # multipart headers and the other form fields or JSON keys


def _begin() -> None:
    g.started_at = time.perf_counter()
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if _SAFE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    limit, setting = body_limit()
    request.max_content_length = limit  # also bounds a body sent without Content-Length
    length = request.content_length  # parsed from the header at each read: read it once
    if length is not None and length > limit:
        # Refused from the header, before a byte of the body is read.
        raise PayloadTooLarge(
            f"request body is {length:,} bytes; the limit is {limit:,} ({setting})",
            code="body_too_large",
        )


def body_limit() -> tuple[int, str]:
    """(bytes, the setting that makes it) for this request's body: limits.max_body_bytes,
    or for a route that takes one file the `[media]` byte limit of its kind, base64 in JSON
    included, where that is larger."""
    config = services().config
    view = current_app.view_functions.get(request.endpoint or "")
    setting = getattr(view, "body_limit_setting", None)  # e.g. /v1/files: max_file_bytes
    if setting is not None:
        return getattr(config.limits, setting) + UPLOAD_OVERHEAD_BYTES, f"limits.{setting}"
    kind = getattr(view, "upload_kind", None)
    if kind is not None:
        upload_limit = config.media.max_bytes(kind) * 4 // 3 + UPLOAD_OVERHEAD_BYTES
        if upload_limit > config.limits.max_body_bytes:
            return upload_limit, f"[media] max_{kind}_bytes, as base64 and form fields"
    return config.limits.max_body_bytes, "limits.max_body_bytes"


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    started_at = g.get("started_at")
    if started_at is not None:
        rule = request.url_rule
        services().metrics.observe_http(
            request.method,
            rule.rule if rule else "unmatched",
            response.status_code,
            time.perf_counter() - started_at,
        )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_finish)

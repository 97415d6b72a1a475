"""mmserve's exceptions, and the one Flask handler that turns them into JSON.

    MMServeError                  (500, opaque: the message never reaches the client)
     ├── ClientError              (4xx: the message is for the client and says how to fix it)
     │    ├── InvalidRequest      400  malformed JSON, too many inputs, bad values
     │    │    └── UnsupportedCapability 400  model cannot do that; names the models that can
     │    ├── SchemaError         422  wrong types or missing fields, names the field
     │    ├── NotFound            404  unknown model, route or resource
     │    ├── PayloadTooLarge     413  body, pixels, tokens or seconds over a limit
     │    ├── Unauthorized        401  no credential, or a wrong/revoked/expired one
     │    ├── Forbidden           403  a valid credential without the route's scope
     │    └── Overloaded          429  queue full; carries Retry-After
     │         ├── RateLimited    429  the key's requests per second; x-ratelimit-* headers
     │         └── QuotaExceeded  429  the key's quota of a unit this period; names the reset
     ├── ModelNotReady            503  still loading or failed to load
     ├── DeadlineExceeded         504  the request outlived request_timeout_s
     ├── UpstreamFailed           502  an upstream model server answered an error
     └── ModelFailed              500  the model raised on this input (opaque, logged)
    ConfigError                   (not HTTP: bad settings at start-up)

Every error body has one shape: {"error": {"message", "type", "param", "code"}}, plus
"request_id" so a user can quote it and an operator can find the traceback in the log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

# Flask is imported inside the handlers only, so that media/ and models/ can raise these
# errors without importing a web framework.
if TYPE_CHECKING:
    from flask import Flask, Response
    from werkzeug.exceptions import HTTPException

log = logging.getLogger("mmserve.errors")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message says how to fix it."""


class MMServeError(Exception):
    status = 500
    type = "server_error"
    code: str | None = "internal_error"
    public = False  # only client errors show their message

    def __init__(self, message: str = "", *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str]:
        return {}


class ClientError(MMServeError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    public = True


class InvalidRequest(ClientError):
    pass


class UnsupportedCapability(InvalidRequest):
    code = "unsupported_capability"


class SchemaError(ClientError):
    status = 422
    code = "invalid_type"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class Conflict(ClientError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class Unauthorized(ClientError):
    status = 401
    type = "authentication_error"
    code = "unauthorized"

    def __init__(self, message: str, *, challenge: str = "Bearer", **kwargs: Any):
        super().__init__(message, **kwargs)
        self.challenge = challenge

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.challenge}


class Forbidden(ClientError):
    status = 403
    type = "permission_error"
    code = "insufficient_scope"


class Overloaded(ClientError):
    status = 429
    type = "rate_limit_error"
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int = 1, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class RateLimited(Overloaded):
    code = "rate_limited"

    def __init__(self, message: str, *, limit_headers: dict[str, str], **kwargs: Any):
        super().__init__(message, **kwargs)
        self.limit_headers = limit_headers

    def headers(self) -> dict[str, str]:
        return {**super().headers(), **self.limit_headers}


class QuotaExceeded(Overloaded):
    code = "quota_exceeded"


class ModelNotReady(MMServeError):
    status = 503
    code = "model_not_ready"
    public = True


class DeadlineExceeded(MMServeError):
    status = 504
    type = "timeout_error"
    code = "timeout"
    public = True


class UpstreamFailed(MMServeError):
    status = 502
    type = "upstream_error"
    code = "upstream_failed"
    public = True  # the message names the upstream's status, never its URL


class ModelFailed(MMServeError):
    code = "model_error"


def error_body(
    message: str, err_type: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    from flask import g

    return {
        "error": {"message": message, "type": err_type, "param": param, "code": code},
        "request_id": g.get("request_id"),
    }


def _respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    from flask import jsonify

    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def handle_mmserve_error(err: MMServeError) -> Response:
    from flask import g

    if err.public:
        body = error_body(err.message, err.type, err.code, err.param)
        return _respond(err.status, body, err.headers())
    log.error(
        "request %s failed: %s",
        g.get("request_id"),
        err.message or type(err).__name__,
        exc_info=err,
    )
    return _opaque_500(err.code)


def handle_http_exception(err: HTTPException) -> Response:
    """Werkzeug's own errors (unknown route, wrong method, body too large) in our shape."""
    status = err.code or 500
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    message = err.description or err.name
    headers = {k: v for k, v in err.get_headers() if k.lower() != "content-type"}
    body = error_body(message, "invalid_request_error", codes.get(status, err.name))
    return _respond(status, body, headers)


def handle_unexpected(err: Exception) -> Response:
    from flask import g

    log.error("request %s failed with an unexpected error", g.get("request_id"), exc_info=err)
    return _opaque_500("internal_error")


def _opaque_500(code: str | None) -> Response:
    from flask import g

    request_id = g.get("request_id")
    message = f"internal error; quote request id {request_id} when reporting it"
    return _respond(500, error_body(message, "server_error", code))


def init_app(app: Flask) -> None:
    from werkzeug.exceptions import HTTPException

    app.register_error_handler(MMServeError, handle_mmserve_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

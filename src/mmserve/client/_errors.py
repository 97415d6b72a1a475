"""The client's exceptions: one per HTTP status the server answers, carrying its error body.

MMServeClientError
 ├── APIConnectionError          the server could not be reached
 │    └── APITimeoutError        no answer within the timeout or the call's deadline
 └── APIStatusError              the server answered 4xx/5xx: .status_code, .message,
      ├── BadRequestError 400    .code, .param, .type, .request_id, .body
      ├── NotFoundError 404
      ├── PayloadTooLargeError 413
      ├── UnprocessableEntityError 422
      ├── RateLimitError 429     (retried first, honouring Retry-After)
      ├── InternalServerError 500
      ├── ServiceUnavailableError 503   (retried first)
      └── GatewayTimeoutError 504
"""

from __future__ import annotations

from typing import Any


class MMServeClientError(Exception):
    pass


class APIConnectionError(MMServeClientError):
    pass


class APITimeoutError(APIConnectionError):
    pass


class APIStatusError(MMServeClientError):
    def __init__(self, status_code: int, body: Any, request_id: str | None):
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        self.status_code = status_code
        self.body = body
        self.message: str = error.get("message") or f"HTTP {status_code}"
        self.type: str | None = error.get("type")
        self.code: str | None = error.get("code")
        self.param: str | None = error.get("param")
        found_id = body.get("request_id") if isinstance(body, dict) else None
        self.request_id: str | None = found_id or request_id
        code = self.code or "error"
        super().__init__(f"{status_code} {code}: {self.message} (request {self.request_id})")


class BadRequestError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class PayloadTooLargeError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class ServiceUnavailableError(APIStatusError):
    pass


class GatewayTimeoutError(APIStatusError):
    pass


BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def status_error(status_code: int, body: Any, request_id: str | None) -> APIStatusError:
    kind = BY_STATUS.get(status_code, APIStatusError)
    return kind(status_code, body, request_id)

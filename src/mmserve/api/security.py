"""Per-request security: who is calling, may they use this route, are they within their
rate and quota; usage metering, rate-limit headers, the audit log and CORS.

Order in a request: hooks._begin (request id, body limit) -> _authorize -> the route ->
_finish -> _release. With auth off every caller is "addr:<ip>" with every scope, and its
usage is still counted.
"""

from __future__ import annotations

import hmac
import time
from functools import partial
from typing import Any

from flask import Flask, Response, g, request

from mmserve.api.common import services
from mmserve.api.low_priority import BATCH_ENVIRON_KEY, BATCH_OWNER_KEY
from mmserve.api.scopes import OPEN, SCOPE_UNITS, scope_of
from mmserve.errors import Forbidden, RateLimited
from mmserve.media import metering
from mmserve.security_config import AuthConfig
from mmserve.services.auth import Principal, credential_from
from mmserve.services.security import Security
from mmserve.store.access import allowed

AUDIT_PARSE_BYTES = 64 * 1024  # past it, the audit log does not parse a body for its model


def security() -> Security:
    """This app's security state (a field of Services)."""
    return services().security


def init_app(app: Flask) -> None:
    """Register the security hooks (after hooks.init_app: errors carry the request id).
    The state they use is Services.security, built and closed with the app's Services."""
    config = app.extensions["mmserve"].config
    app.before_request(_authorize)
    app.after_request(_finish)
    app.teardown_request(_release)
    if config.cors.origins:
        from flask_cors import CORS

        CORS(
            app,
            origins=list(config.cors.origins),
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
            ],
        )


def _authorize() -> None:
    url_rule, method = request.url_rule, request.method
    if url_rule is None or method == "OPTIONS":
        return  # an unknown route answers 404; a CORS preflight carries no credential
    rule = url_rule.rule
    scope = scope_of("GET" if method == "HEAD" else method, rule)
    g.scope = scope
    if scope == OPEN:
        return
    sec = security()
    environ = request.environ
    batch_line = bool(environ.get(BATCH_ENVIRON_KEY))
    if batch_line and sec.config.enabled:
        # A batch line runs as the batch's creator, recorded at creation and passed in an
        # environ key no client can set (api/low_priority.py); a key is re-read, so a
        # revoked or expired one stops the batch at its next line.
        principal = sec.authenticator.batch_principal(environ.get(BATCH_OWNER_KEY))
    else:
        headers = request.headers
        credential = credential_from(headers.get("Authorization"), headers.get("X-API-Key"))
        if rule == "/metrics" and _is_metrics_token(sec.config, credential):
            return
        principal = sec.authenticator.authenticate(credential, request.remote_addr or "unknown")
    g.principal = principal
    principal.require(scope)
    _check_collection(sec, principal, scope, rule)
    if not batch_line:  # lines yield to clients already; they do not drain the key's bucket
        _check_rate(sec, principal)
    if principal.quotas:
        units = SCOPE_UNITS.get(scope, ())
        sec.meter.check_quota(principal.name, principal.quotas, principal.quota_period, units)
    g.meter_token = metering.bind(partial(sec.meter.add, principal.name))
    if scope in SCOPE_UNITS:  # routes that do work; not /v1/models, /v1/usage, /metrics
        metering.add("requests", 1)


def _check_rate(sec: Security, principal: Principal) -> None:
    if principal.rate_per_s is None:
        return
    decision = sec.limiter.take(principal.name, principal.rate_per_s, principal.burst or 1)
    g.rate_headers = decision.headers()
    if not decision.allowed:
        raise RateLimited(
            f"rate limit: {principal.rate_per_s:g} requests per second (bursts of "
            f"{decision.limit}); retry after {decision.retry_after_s} s",
            retry_after_s=decision.retry_after_s,
            limit_headers=decision.headers(),
        )


COLLECTION_RULE = "/v1/collections/<name>"


def _check_collection(sec: Security, principal: Principal, scope: str, rule: str) -> None:
    """Owners and readers of a restricted collection (admin keys pass; auth off: everyone)."""
    if not rule.startswith(COLLECTION_RULE) or "admin" in principal.scopes:
        return
    name = (request.view_args or {}).get("name", "")
    write = scope == "search:write"
    if not allowed(sec.access.roles(name), principal.name, write=write):
        raise Forbidden(
            f"collection {name!r} is restricted; this key is not its "
            f"{'owner' if write else 'owner or reader'} (an admin can grant it: "
            f"mmserve keys grant {principal.name} --collection {name})",
            param="name",
            code="collection_forbidden",
        )


def check_collection_read(name: str, param: str) -> None:
    """For routes that name a collection in their body (chat's `collection`): the caller
    needs search:read and, for a restricted collection, to be its owner or reader."""
    principal: Principal | None = g.get("principal")
    if principal is None or "admin" in principal.scopes:
        return
    principal.require("search:read")
    if not allowed(security().access.roles(name), principal.name, write=False):
        raise Forbidden(
            f"collection {name!r} is restricted; this key is not its owner or reader",
            param=param,
            code="collection_forbidden",
        )


def readable(names: list[str]) -> list[str]:
    """The collections among `names` this request's caller may read (for listings)."""
    principal: Principal | None = g.get("principal")
    if principal is None or "admin" in principal.scopes:
        return names
    roles = security().access.all_roles()
    return [n for n in names if allowed(roles.get(n, {}), principal.name, write=False)]


def _record_ownership(sec: Security, response: Response) -> None:
    """A collection made through the API with auth on belongs to its maker; a deleted
    collection's rows go, so a new one of that name starts fresh."""
    principal: Principal | None = g.get("principal")
    if principal is None or response.status_code >= 300 or request.url_rule is None:
        return
    rule = request.url_rule.rule
    if rule == "/v1/collections" and request.method == "POST" and principal.kind != "address":
        name = (response.get_json(silent=True) or {}).get("name")
        if isinstance(name, str):
            sec.access.grant(name, principal.name, "owner")
    elif rule == COLLECTION_RULE and request.method == "DELETE":
        sec.access.forget((request.view_args or {}).get("name", ""))


def _is_metrics_token(config: AuthConfig, credential: str | None) -> bool:
    if not config.metrics_token or not credential:
        return False
    return hmac.compare_digest(credential.encode(), config.metrics_token.encode())


def _finish(response: Response) -> Response:
    rate_headers = g.get("rate_headers")
    if rate_headers:
        response.headers.update(rate_headers)
    sec = security()
    url_rule = request.url_rule
    if url_rule is not None and url_rule.rule.startswith("/v1/collections"):
        _record_ownership(sec, response)
    if sec.audit is not None and g.get("scope", OPEN) != OPEN:
        sec.audit.write(_audit_record(response.status_code))
    return response


def _release(_: BaseException | None) -> None:
    token = g.pop("meter_token", None)
    if token is not None:
        metering.unbind(token)


def _audit_record(status: int) -> dict[str, Any]:
    """Who did what, when, with what outcome: never a body, a header value or a secret."""
    principal: Principal | None = g.get("principal")
    url_rule = request.url_rule
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request_id": g.get("request_id"),
        "who": principal.name if principal else None,
        "kind": principal.kind if principal else None,
        "method": request.method,
        "route": url_rule.rule if url_rule else None,
        "scope": g.get("scope"),
        "collection": (request.view_args or {}).get("name"),
        "model": _model_named(),
        "status": status,
        "outcome": "ok" if status < 400 else "refused" if status < 500 else "error",
    }


def _model_named() -> str | None:
    """The body's "model" field, from a parse a route made, or a small JSON body."""
    body = g.get("mmserve_json")
    if body is None and request.is_json and (request.content_length or 0) <= AUDIT_PARSE_BYTES:
        body = request.get_json(silent=True)
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


def creator() -> dict[str, Any] | None:
    """Who makes a batch or a file (it runs as, and belongs to, the caller): auth on, the
    caller's Principal.owner(), by key id, never a secret; auth off, None."""
    principal: Principal | None = g.get("principal")
    return principal.owner() if principal is not None else None


def own_only() -> dict[str, Any] | None:
    """Whose batches and files the caller sees: with auth on its own (a Principal.owner()),
    admin and auth off (None) all."""
    principal: Principal | None = g.get("principal")
    if principal is None or principal.kind == "address" or "admin" in principal.scopes:
        return None
    return principal.owner()

"""Every route x {no key, bad key, revoked, expired, each scope}, from the OpenAPI document.

The routes come from GET /openapi.json, so a new route is in the matrix the moment it is
documented, and one without a declared scope fails test_every_route_declares_a_scope.
"""

from __future__ import annotations

import re
import time

import pytest

from mmserve.api.scopes import OPEN, declared
from mmserve.security_config import SCOPES
from mmserve.services.auth import ANY_SCOPE
from tests.auth_helpers import bearer, new_key


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    from mmserve.app import create_app
    from tests.auth_helpers import auth_config, stop

    app = create_app(auth_config(tmp_path_factory.mktemp("matrix")), wait_for_models=True)
    app.config["TESTING"] = True
    keys = app.extensions["mmserve"].security.keys
    credentials = {scope: new_key(app, scope.replace(":", "-"), scope) for scope in SCOPES}
    revoked = new_key(app, "revoked", *SCOPES)
    keys.revoke("revoked")
    expired = new_key(app, "expired", *SCOPES, expires_at=time.time() - 1)
    operations = [
        (path, method.upper(), op)
        for path, methods in app.test_client().get("/openapi.json").get_json()["paths"].items()
        for method, op in methods.items()
    ]
    yield app, operations, credentials, revoked, expired
    stop(app)


def concrete(path: str) -> str:
    """/v1/collections/{name}/items/{item_id} -> /v1/collections/x/items/x"""
    return re.sub(r"{\w+}", "x", path)


def call(client, method, path, headers=None):
    return client.open(concrete(path), method=method, json={}, headers=headers or {})


def test_every_route_declares_a_scope(matrix):
    app, operations, *_ = matrix
    undeclared = [f"{m} {p}" for p, m, op in operations if op["x-scope"] == "undeclared"]
    assert not undeclared, f"add these to mmserve.api.scopes.ROUTE_SCOPES: {undeclared}"
    for rule in app.url_map.iter_rules():  # routes the document does not show, too
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert declared(method, rule.rule), f"{method} {rule.rule} has no scope"
    assert len(operations) >= 35  # the document lists the routes (a guard against an empty walk)


def test_the_document_shows_each_scope_as_a_security_requirement(matrix):
    _, operations, *_ = matrix
    for path, method, op in operations:
        scope = op["x-scope"]
        if scope == OPEN:
            assert op["security"] == [], (method, path)
        else:
            wanted = [] if scope == ANY_SCOPE else [scope]
            assert op["security"] == [{"bearer": wanted}, {"apiKey": wanted}], (method, path)
            assert "401" in op["responses"], (method, path)


def test_no_bad_revoked_or_expired_credential_is_401_everywhere_but_open_routes(matrix):
    app, operations, _, revoked, expired = matrix
    client = app.test_client()
    wrong = "mms_0123456789ab_" + "A" * 43
    for path, method, op in operations:
        for label, headers in (
            ("no key", None),
            ("bad key", bearer(wrong)),
            ("revoked", bearer(revoked)),
            ("expired", {"X-API-Key": expired}),
        ):
            status = call(client, method, path, headers).status_code
            if op["x-scope"] == OPEN:
                assert status != 401, (label, method, path)
            else:
                assert status == 401, (label, method, path, status)


def test_each_scope_passes_exactly_its_routes(matrix):
    app, operations, credentials, *_ = matrix
    client = app.test_client()
    for path, method, op in operations:
        needed = op["x-scope"]
        if needed == OPEN:
            continue
        for scope, key in credentials.items():
            response = call(client, method, path, bearer(key))
            allowed = needed == ANY_SCOPE or scope in (needed, "admin")
            if allowed:
                assert response.status_code not in (401, 403), (scope, method, path)
            else:
                assert response.status_code == 403, (scope, method, path, response.status_code)
                assert response.get_json()["error"]["param"] == needed

"""The OpenAPI document, generated from the routes' `@operation` declarations and the
pydantic schemas, and interactive docs whose assets mmserve serves itself (no CDN)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, jsonify, render_template, send_from_directory
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mmserve import __version__
from mmserve.api import contract
from mmserve.api.schemas.common import ErrorResponse
from mmserve.api.scopes import add_security

bp = Blueprint("openapi", __name__, template_folder="templates")

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    400: "Invalid request",
    401: "No credential, or an unknown, revoked or expired one (see WWW-Authenticate)",
    403: "The credential lacks the route's scope",
    404: "Not found",
    409: "In a state that does not allow it (e.g. reloading a model that did not fail)",
    413: "Over a limit",
    422: "Wrong field type",
    429: "Overloaded, rate-limited or over quota; see Retry-After",
    500: "Internal error (opaque, with a request id)",
    502: "The upstream model failed",
    503: "Model not ready",
    504: "Timed out",
}


SUCCESS_STATUSES = {200: "OK", 201: "Created", 202: "Accepted"}


def operation(
    summary: str,
    *,
    tags: list[str],
    request: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    content_type: str = "application/json",
    errors: tuple[int, ...] = (),
    status: int = 200,
) -> Callable[[F], F]:
    """Declare what a route takes and returns, for the OpenAPI document. `status`: the
    success status the route answers (201 created, 202 accepted)."""

    def decorator(view: F) -> F:
        view.__openapi__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "tags": tags,
            "request": request,
            "response": response,
            "content_type": content_type,
            "errors": errors,
            "status": status,
            "doc": (view.__doc__ or "").strip(),
        }
        return view

    return decorator


def build_document(app: Flask) -> dict[str, Any]:
    operations = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        declared = getattr(view, "__openapi__", None)
        if declared:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                operations.append((_openapi_path(rule.rule), method.lower(), declared, rule.rule))
    models = {ErrorResponse}
    for _, _, declared, _ in operations:
        models.update(m for m in (declared["request"], declared["response"]) if m)
    refs, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    examples = contract.request_examples()
    for path, method, declared, _ in sorted(operations, key=lambda o: (o[0], o[1])):
        op = _operation(path, declared, refs)
        _add_contract(op, method, path, examples.get((method, path), []))
        paths.setdefault(path, {})[method] = op
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "mmserve",
            "version": __version__,
            "description": "Multimodal models behind one HTTP API.",
        },
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {})},
    }
    add_security(document, [(path, method, rule) for path, method, _, rule in operations])
    return document


def _operation(path: str, declared: dict[str, Any], refs: dict[Any, Any]) -> dict[str, Any]:
    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return {"$ref": refs[(model, "validation")]["$ref"]}

    success: dict[str, Any] = {"description": SUCCESS_STATUSES[declared["status"]]}
    if declared["response"]:
        success["content"] = {"application/json": {"schema": ref(declared["response"])}}
    elif declared["content_type"] != "application/json":
        success["content"] = {declared["content_type"]: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(declared["status"]): success}
    for status in declared["errors"]:
        responses[str(status)] = {
            "description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": ref(ErrorResponse)}},
        }
    op: dict[str, Any] = {
        "summary": declared["summary"],
        "tags": declared["tags"],
        "description": declared["doc"],
        "responses": responses,
    }
    params = re.findall(r"{(\w+)}", path)
    if params:
        op["parameters"] = [contract.path_parameter(path, p) for p in params]
    if declared["request"]:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(declared["request"])}},
        }
    return op


def _add_contract(op: dict[str, Any], method: str, path: str, examples: list[Any]) -> None:
    """The operation's id, whole-request examples and links (api/contract.py)."""
    op["operationId"] = contract.operation_id(method, path)
    if examples and "requestBody" in op:
        content = op["requestBody"]["content"]["application/json"]
        content["examples"] = {f"example{i}": {"value": v} for i, v in enumerate(examples, 1)}
    for status, response in op["responses"].items():
        links = contract.LINKS.get((method, path, status))
        if links:
            response["links"] = links


def _openapi_path(rule: str) -> str:
    """Flask's '/v1/models/<path:model_id>' -> OpenAPI's '/v1/models/{model_id}'."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


@bp.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(build_document(current_app))


@bp.get("/docs")
def docs() -> str:
    return render_template("docs.html")


@bp.get("/docs/assets/<path:filename>")
def docs_assets(filename: str) -> Any:
    import swagger_ui_bundle

    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

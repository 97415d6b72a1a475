"""The scope each route needs, next to the route list, and its place in the OpenAPI document.

One table keyed by (method, Flask rule), so a route file needs no auth import and the
table reads as the server's whole permission model. A route missing here is refused to
every caller but an admin (fail closed), and tests/api/test_auth_matrix.py, which walks
/openapi.json, fails until the route is declared.
"""

from __future__ import annotations

from typing import Any

from mmserve.services.auth import ANY_SCOPE

OPEN = "open"  # no credential needed

ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/assets/<path:filename>"): OPEN,
    ("GET", "/static/<path:filename>"): OPEN,
    ("GET", "/metrics"): "admin",  # or [auth] metrics_token
    ("GET", "/v1/usage"): ANY_SCOPE,  # own usage; another key's needs admin
    ("GET", "/v1/models"): ANY_SCOPE,
    ("GET", "/v1/models/<path:model_id>"): ANY_SCOPE,
    ("POST", "/v1/models/<path:model_id>/reload"): "admin",
    ("POST", "/v1/embeddings"): "embed",
    ("POST", "/v1/audio/transcriptions"): "transcribe",
    ("POST", "/v1/audio/classifications"): "vision",
    ("POST", "/v1/images/captions"): "vision",
    ("POST", "/v1/images/ocr"): "vision",
    ("POST", "/v1/classifications"): "vision",
    # Chat reads images and clips; naming a collection also needs search:read and a key
    # that may read it (checked in the route: the collection is in the body, not the URL).
    ("POST", "/v1/chat/completions"): "vision",
    ("POST", "/v1/rerank"): "embed",
    ("POST", "/v1/label-sets"): "vision",
    ("GET", "/v1/label-sets"): "vision",
    ("GET", "/v1/label-sets/<name>"): "vision",
    ("DELETE", "/v1/label-sets/<name>"): "vision",
    ("POST", "/v1/collections"): "search:write",
    ("GET", "/v1/collections"): "search:read",
    ("GET", "/v1/collections/<name>"): "search:read",
    ("DELETE", "/v1/collections/<name>"): "search:write",
    ("POST", "/v1/collections/<name>/items"): "search:write",
    ("GET", "/v1/collections/<name>/items"): "search:read",
    ("GET", "/v1/collections/<name>/items/<path:item_id>"): "search:read",
    ("DELETE", "/v1/collections/<name>/items/<path:item_id>"): "search:write",
    ("POST", "/v1/collections/<name>/search"): "search:read",
    ("POST", "/v1/predict"): "predict",
    ("POST", "/predict"): "predict",
    ("POST", "/v1/jobs"): "train",
    ("GET", "/v1/jobs"): "train",
    ("GET", "/v1/jobs/<job_id>"): "train",
    ("DELETE", "/v1/jobs/<job_id>"): "train",
    ("POST", "/v1/fusion/models"): "train",
    ("GET", "/v1/fusion/models"): "train",
    ("GET", "/v1/fusion/models/<name>"): "train",
    ("DELETE", "/v1/fusion/models/<name>"): "train",
    ("POST", "/v1/fusion/models/<name>/activate"): "train",
    ("POST", "/v1/fusion/models/<name>/rollback"): "train",
    ("POST", "/v1/aligned/models"): "train",
    ("GET", "/v1/aligned/models"): "train",
    ("GET", "/v1/aligned/models/<name>"): "train",
    ("DELETE", "/v1/aligned/models/<name>"): "train",
    ("POST", "/v1/aligned/models/<name>/activate"): "train",
    ("POST", "/v1/aligned/models/<name>/rollback"): "train",
    ("GET", "/v1/jobs/<job_id>/report"): "train",
    ("GET", "/v1/collections/<name>/items/<path:item_id>/thumbnail"): "search:read",
    # Batches are background jobs, and their files feed them: the jobs scope. (With auth on,
    # a batch's lines run in-process without the creator's credential and are refused: see
    # docs/batches.md.)
    ("POST", "/v1/files"): "train",
    ("GET", "/v1/files"): "train",
    ("GET", "/v1/files/<file_id>"): "train",
    ("GET", "/v1/files/<file_id>/content"): "train",
    ("DELETE", "/v1/files/<file_id>"): "train",
    ("POST", "/v1/batches"): "train",
    ("GET", "/v1/batches"): "train",
    ("GET", "/v1/batches/endpoints"): "train",
    ("GET", "/v1/batches/<batch_id>"): "train",
    ("POST", "/v1/batches/<batch_id>/cancel"): "train",
    # The playground's static page; the API calls it makes need credentials like any other.
    ("GET", "/"): OPEN,
    ("GET", "/playground"): OPEN,
    ("GET", "/playground/"): OPEN,
    ("GET", "/playground/<path:filename>"): OPEN,
}
UNDECLARED = "admin"  # fail closed
ERROR_REF = "#/components/schemas/ErrorResponse"

# The usage units a scope's routes consume: a key whose quota of one of them is used up is
# refused on those routes (429 quota_exceeded) and still served on the others.
SCOPE_UNITS: dict[str, tuple[str, ...]] = {
    "embed": ("requests", "text_tokens", "image_megapixels", "audio_seconds"),
    "transcribe": ("requests", "audio_seconds"),
    "vision": ("requests", "text_tokens", "image_megapixels", "audio_seconds"),
    "search:read": ("requests", "text_tokens", "image_megapixels", "audio_seconds"),
    "search:write": ("requests", "text_tokens", "image_megapixels", "audio_seconds"),
    "predict": ("requests", "text_tokens", "image_megapixels", "audio_seconds"),
    "train": ("requests", "training_jobs"),
}


def scope_of(method: str, rule: str) -> str:
    return ROUTE_SCOPES.get((method, rule), UNDECLARED)


def declared(method: str, rule: str) -> bool:
    return (method, rule) in ROUTE_SCOPES


def add_security(document: dict[str, Any], rules: list[tuple[str, str, str]]) -> None:
    """Security schemes and each operation's requirement in the OpenAPI document.

    `rules`: (OpenAPI path, lower-case method, Flask rule) of each operation."""
    document["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "API key or OIDC JWT"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    for path, method, rule in rules:
        operation = document["paths"][path][method]
        scope = scope_of(method.upper(), rule)
        operation["x-scope"] = scope if declared(method.upper(), rule) else "undeclared"
        if scope == OPEN:
            operation["security"] = []
            continue
        needed = [] if scope == ANY_SCOPE else [scope]
        operation["security"] = [{"bearer": needed}, {"apiKey": needed}]
        error = {"application/json": {"schema": {"$ref": ERROR_REF}}}
        responses = operation["responses"]
        responses.setdefault("401", {"description": "No or invalid credential", "content": error})
        if scope != ANY_SCOPE:
            responses.setdefault("403", {"description": f"Needs scope {scope}", "content": error})

"""The playground: one page (plain HTML/CSS/JS shipped in the package, no CDN, no build
step) that calls the API from the browser, and the thumbnails its search results show.

    GET /                   redirects to /playground/
    GET /playground/        the page; its assets under /playground/<file>
    GET /v1/collections/{name}/items/{id}/thumbnail?size=128   JPEG, at most 256 px
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, redirect, request, send_from_directory

from mmserve.api.common import services
from mmserve.api.openapi import operation
from mmserve.api.security import security
from mmserve.services.deidentify import wants_faces
from mmserve.services.thumbnails import make_thumbnail, source_file, thumbnail_side

bp = Blueprint("playground", __name__)
STATIC = Path(__file__).parents[1] / "static" / "playground"  # api/static


@bp.get("/")
def root() -> Any:
    return redirect("/playground/", code=302)


@bp.get("/playground")
@bp.get("/playground/")
def page() -> Any:
    return send_from_directory(STATIC, "index.html", max_age=0)


@bp.get("/playground/<path:filename>")
def asset(filename: str) -> Any:
    return send_from_directory(STATIC, filename, max_age=0)


@bp.get("/v1/collections/<name>/items/<path:item_id>/thumbnail")
@operation(
    "A small JPEG of an image item",
    tags=["collections"],
    content_type="image/jpeg",
    errors=(400, 404, 413, 503),
)
def thumbnail(name: str, item_id: str) -> Any:
    """From the file the item was indexed from (folder index jobs); `?size=` 16-256 px,
    default 128: the longer side, aspect kept. Faces blurred in a collection made with
    deidentify "faces"."""
    svc = services()
    side = thumbnail_side(request.args.get("size"))
    faces = wants_faces(security().access.deidentify(name))
    path = source_file(svc.store, svc.config.media, name, item_id)
    body = make_thumbnail(path, side, svc.config.media, faces=faces)
    return Response(body, mimetype="image/jpeg", headers={"Cache-Control": "max-age=300"})

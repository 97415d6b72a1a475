"""OpenAI's /v1/files, for batch inputs and outputs: upload, read, download, delete.

    curl localhost:8000/v1/files -F purpose=batch -F file=@requests.jsonl

Files live in `<data_dir>/files` (store/files.py); an upload is at most
limits.max_file_bytes (100 MiB by default), which on this route replaces the smaller
limits.max_body_bytes.

With auth on a file belongs to the key (or OIDC subject) that uploaded it, and a batch's
output and error files to the batch's creator: others get 403 `file_forbidden` and do not
see it in the listing; admin keys see and delete every file (services.batches.own_file).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify, request, send_file

from mmserve.api.common import services
from mmserve.api.openapi import operation
from mmserve.api.schemas.batches import FileDeleted, FileList, FileOut
from mmserve.api.security import creator, own_only
from mmserve.errors import InvalidRequest
from mmserve.services.batches import file_store, own_file, same_creator
from mmserve.store.files import FileRecord, FileStore

bp = Blueprint("files", __name__)
UPLOAD_PURPOSES = ("batch",)


def files() -> FileStore:
    return file_store(services().config.data_dir)


def larger_body(setting: str) -> Any:
    """Mark a route whose body may be as large as `limits.<setting>` (read by api.hooks)."""

    def mark(view: Any) -> Any:
        view.body_limit_setting = setting
        return view

    return mark


@bp.post("/v1/files")
@larger_body("max_file_bytes")
@operation(
    "Upload a file (multipart: purpose=batch, file=JSONL)",
    tags=["batches"],
    response=FileOut,
    errors=(400, 413),
)
def upload_file() -> Any:
    """Multipart form: `purpose` ("batch") and `file` (JSON lines, one request each)."""
    purpose = request.form.get("purpose")
    if purpose not in UPLOAD_PURPOSES:
        raise InvalidRequest(
            f"purpose must be one of {', '.join(UPLOAD_PURPOSES)}, got {purpose!r}",
            param="purpose",
        )
    upload = request.files.get("file")
    if upload is None:
        raise InvalidRequest(
            "send the file as a multipart part named 'file' (curl -F file=@batch.jsonl)",
            param="file",
        )
    record = files().create(
        upload.stream,
        filename=upload.filename or "upload.jsonl",
        purpose=purpose,
        max_bytes=services().config.limits.max_file_bytes,
        owner=creator(),
    )
    return jsonify(file_json(record))


@bp.get("/v1/files")
@operation("List files, newest first", tags=["batches"], response=FileList)
def list_files() -> Any:
    """`?purpose=` filters."""
    found = files().list(purpose=request.args.get("purpose"))
    viewer = own_only()
    mine = [r for r in found if viewer is None or same_creator(r.owner, viewer)]
    return jsonify(object="list", data=[file_json(r) for r in mine], has_more=False)


@bp.get("/v1/files/<file_id>")
@operation("One file's record", tags=["batches"], response=FileOut, errors=(403, 404))
def get_file(file_id: str) -> Any:
    return jsonify(file_json(_own(files(), file_id)))


@bp.get("/v1/files/<file_id>/content")
@operation(
    "A file's content", tags=["batches"], content_type="application/jsonl", errors=(403, 404)
)
def file_content(file_id: str) -> Any:
    store = files()
    record = _own(store, file_id)
    return send_file(
        store.content_path(file_id),
        mimetype="application/jsonl",
        download_name=record.filename,
        conditional=False,
    )


@bp.delete("/v1/files/<file_id>")
@operation("Delete a file", tags=["batches"], response=FileDeleted, errors=(403, 404))
def delete_file(file_id: str) -> Any:
    store = files()
    record = store.delete(_own(store, file_id).id)
    return jsonify(id=record.id, object="file", deleted=True)


def _own(store: FileStore, file_id: str) -> FileRecord:
    return own_file(store.get(file_id), own_only())


def file_json(record: FileRecord) -> dict[str, Any]:
    """OpenAI's file object (who owns it stays on the server)."""
    fields = {k: v for k, v in asdict(record).items() if k != "owner"}
    return {"object": "file", **fields, "status": "processed", "status_details": None}

"""Read the one image or audio clip of a request, in whichever way the client sent it.

    request_image(field="image", min_side=None) -> RGB PIL image
    request_audio(field="audio", sample_rate=16_000) -> (samples,) float32 in [-1, 1]
    request_media_bytes(field, kind) -> the encoded bytes, size-checked (for chunked decoding)
    request_options(Schema) -> the request's other fields (model, ...) validated

Two ways in, so both curl users and JSON clients are served:
  multipart/form-data  a file part named after the field (-F image=@cat.jpg) or `file`
                       (-F file=@cat.jpg), or a text part named after the field holding any
                       form below; other fields are form fields (-F model=efficientnet-lite0)
  JSON                 {"<field>": base64 | data: URI | http(s) URL | server path |
                       OpenAI content part, "model": ...}; see mmserve.media.sources
Limits and permissions are services().config.media (the [media] table); every error names
the field the client used (`file` for an upload).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from flask import g, request
from pydantic import BaseModel, ValidationError

from mmserve.api.common import schema_error, services
from mmserve.errors import InvalidRequest
from mmserve.media.audio import SAMPLE_RATE, decode_audio
from mmserve.media.images import decode_image
from mmserve.media.sources import Kind, media_bytes

if TYPE_CHECKING:
    from PIL.Image import Image

M = TypeVar("M", bound=BaseModel)
UPLOAD_FIELD = "file"  # the multipart part holding an uploaded file, whatever the kind


def request_image(field: str = "image", min_side: int | None = None) -> Image:
    """The request's one image, decoded to RGB under the configured media policy; a JPEG at
    reduced scale where every model it goes to resizes to `min_side` (decode_image)."""
    data, param = _media_bytes(field, "image")
    return decode_image(data, policy=services().config.media, field=param, min_side=min_side)


def request_audio(field: str = "audio", sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The request's one audio clip, decoded to mono float32 at `sample_rate`."""
    data, param = _media_bytes(field, "audio")
    return decode_audio(data, policy=services().config.media, field=param, sample_rate=sample_rate)


def request_media_bytes(field: str, kind: Kind) -> bytes:
    """The encoded bytes of the request's one image or clip, checked against the byte limit
    but not decoded: for callers that decode in chunks (mmserve.media.iter_audio_chunks).
    Pass the returned bytes on with `media_param(field)` as the field name."""
    data, _ = _media_bytes(field, kind)
    return data


def media_param(field: str) -> str:
    """The name errors about the request's media should carry: `file` for an upload."""
    if _is_multipart() and field not in request.files and UPLOAD_FIELD in request.files:
        return UPLOAD_FIELD
    return field


def media_sent(field: str) -> bool:
    """Whether the request carries media under `field` (an upload named after it, a form
    part, or a JSON value), for requests where it is optional. `file` uploads do not count:
    where there may be several media, each part must be named."""
    if _is_multipart():
        return field in request.files or field in request.form
    return request_json().get(field) is not None


def request_options(schema: type[M]) -> M:
    """The request's fields validated against `schema`: the JSON body, or the form fields of
    a multipart request (text, coerced by pydantic: "5" -> 5). 422 naming the field."""
    data: dict[str, Any] = request.form.to_dict() if _is_multipart() else request_json()
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise schema_error(e) from None


def request_json() -> dict[str, Any]:
    """The JSON body as a dict, parsed once per request (an image in base64 is megabytes)."""
    if "mmserve_json" not in g:
        raw = request.get_data(cache=True)
        if not raw.strip():
            g.mmserve_json = {}
            return g.mmserve_json
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidRequest(
                f"request body is not valid JSON ({e}); send JSON, or a multipart upload "
                f"with the file in a part named '{UPLOAD_FIELD}'",
                code="invalid_json",
            ) from None
        if not isinstance(data, dict):
            raise InvalidRequest("request body must be a JSON object", code="invalid_json")
        g.mmserve_json = data
    found: dict[str, Any] = g.mmserve_json
    return found


def _media_bytes(field: str, kind: Kind) -> tuple[bytes, str]:
    policy = services().config.media
    value, param = _media_value(field, kind)
    return media_bytes(value, kind=kind, policy=policy, field=param), param


def _media_value(field: str, kind: Kind) -> tuple[Any, str]:
    """(the raw value, the field name to report) from an upload or the JSON body."""
    if _is_multipart():
        # A part named after the field (-F image=@cat.jpg: needed where a request takes two
        # files), else the one `file`, else a text part holding one of the JSON forms.
        for name in (field, UPLOAD_FIELD):
            upload = request.files.get(name)
            if upload is not None:
                # One byte over the limit is enough for media_bytes to report the size.
                return upload.read(services().config.media.max_bytes(kind) + 1), name
        if field in request.form:
            return request.form[field], field
    else:
        body = request_json()
        if body.get(field) is not None:
            return body[field], field
    raise InvalidRequest(
        f"{field}: no {kind} in the request; upload one as multipart/form-data in a part "
        f"named '{UPLOAD_FIELD}' (curl -F {UPLOAD_FIELD}=@photo.jpg), or send JSON "
        f'{{"{field}": "<base64 or data: URI>"}}',
        param=field,
        code=f"missing_{kind}",
    )


def _is_multipart() -> bool:
    return request.mimetype == "multipart/form-data"

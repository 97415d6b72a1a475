"""Helpers every route uses: the app's services, and parsing a JSON body into a schema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from pydantic import BaseModel, ValidationError

from mmserve.errors import InvalidRequest, SchemaError
from mmserve.services.state import Services

M = TypeVar("M", bound=BaseModel)
# A surrogate code point in a JSON body: escaped (\udc80) or raw UTF-8 (ED A0..BF xx), which
# json.loads lets through. Bodies without one (nearly all) skip the walk of the parsed value.
# Two patterns, each looked for only if its first byte is there (memchr, ~1 us for 80 KB):
# one alternation of both was matched at every byte, ~500 us for an 80 KB base64 image.
ESCAPED_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F]")
RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")
F = TypeVar("F", bound=Callable[..., Any])


def services() -> Services:
    """The app's one Services object (services/state.py), built by create_app."""
    found: Services = current_app.extensions["mmserve"]
    return found


def takes_one_upload(kind: str) -> Callable[[F], F]:
    """Mark a route that takes one image or audio file: its body may be as large as the
    `[media]` limit for that kind allows (as base64 in JSON too), when that is more than
    limits.max_body_bytes. So an hour of audio can be sent without raising the body limit
    of every route. `kind`: "image" or "audio"."""
    if kind not in ("image", "audio"):
        raise ValueError(f"kind must be 'image' or 'audio', got {kind!r}")

    def mark(view: F) -> F:
        view.upload_kind = kind  # type: ignore[attr-defined]  # read by api.hooks
        return view

    return mark


def parse_body(schema: type[M]) -> M:
    """The request's JSON body validated against `schema`: 400 if it is not JSON,
    422 naming the first wrong field otherwise."""
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidRequest(f"request body is not valid JSON: {e}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    if may_hold_surrogates(raw):
        reject_lone_surrogates(data)
    g.mmserve_json = data  # parsed once: the audit log reads its "model" from here
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise schema_error(e) from None


def may_hold_surrogates(raw: bytes) -> bool:
    return bool(
        (b"\\" in raw and ESCAPED_SURROGATE.search(raw))
        or (b"\xed" in raw and RAW_SURROGATE.search(raw))
    )


def reject_lone_surrogates(value: Any, where: str = "") -> None:
    """400 naming the first field (or key) holding a lone surrogate: JSON can escape one
    ("\\ud800"), but it is no character, and UTF-8 encoders (SQLite, tokenizers, file
    names) raise on it."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidRequest(
                f"{where or 'body'}: holds a lone surrogate (\\ud800-\\udfff), not a character",
                param=where or None,
                code="invalid_unicode",
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_lone_surrogates(key, where or "body")
            reject_lone_surrogates(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_lone_surrogates(item, f"{where}[{index}]")


def schema_error(error: ValidationError) -> SchemaError:
    """The 422 for a pydantic ValidationError, naming the first wrong field."""
    problems = error.errors(include_url=False)
    # The most specific location wins: for a union, the member that got furthest in.
    first = max(problems, key=lambda p: sum(isinstance(part, int) for part in p["loc"]))
    param = _param(first["loc"])
    same_field = [p for p in problems if _param(p["loc"]) == param]
    if len(same_field) > 1:  # a union: say what each accepted shape wanted
        wanted = "; or ".join(dict.fromkeys(p["msg"] for p in same_field))
        message = f"{param}: matches no accepted shape ({wanted})"
    elif first["type"] == "extra_forbidden":
        message = f"{param}: unknown field; see GET /openapi.json for the accepted fields"
    else:
        message = f"{param}: {first['msg']}"
    return SchemaError(message, param=param)


def _param(loc: tuple[int | str, ...]) -> str:
    """('input', 'list[str]', 3) -> 'input[3]': field names and indices, not union tags."""
    name = str(loc[0]) if loc else "body"
    return name + "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))

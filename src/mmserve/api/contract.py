"""What the OpenAPI document says beyond the request and response schemas: the rules of the
path parameters, whole-request examples that reach each route's real work (tiny real media,
not placeholders), and the links between operations (create a collection, then its items;
register a fusion model, then activate it). openapi.build_document merges them in.

The path rules are the store's own patterns, so the document cannot drift from what the
server enforces; the examples name the resources a fresh server's documentation would show
(`photos`, `memes`, `animals`), which a test creates before fuzzing.
"""

from __future__ import annotations

import base64
import io
import math
import re
import struct
import wave
import zlib
from functools import cache
from typing import Any

from mmserve.store import names
from mmserve.store.records import MAX_ID_CHARS

COLLECTION = "photos"  # the example resources
ITEM = "cat-1"
FUSION_MODEL = "memes"
LABEL_SET = "animals"


def operation_id(method: str, path: str) -> str:
    """('post', '/v1/collections/{name}/items') -> 'post_v1_collections_name_items'."""
    return "_".join([method, *re.findall(r"[A-Za-z0-9]+", path)])


def _param(pattern: str | None, example: str, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if pattern:
        schema["pattern"] = pattern
    if max_length:
        schema["maxLength"] = max_length
    return {"schema": schema, "example": example}


# (path prefix, parameter) -> its schema and example; the longest matching prefix wins.
PATH_PARAMETERS: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/collections/", "name"): _param(names.COLLECTION.json_pattern, COLLECTION),
    ("/v1/collections/", "item_id"): _param(None, ITEM, MAX_ID_CHARS),
    ("/v1/fusion/models/", "name"): _param(names.FUSION_MODEL.json_pattern, FUSION_MODEL),
    ("/v1/label-sets/", "name"): _param(names.LABEL_SET.json_pattern, LABEL_SET),
    ("/v1/models/", "model_id"): _param(None, "minilm", 256),
    ("/v1/jobs/", "job_id"): _param("^[0-9a-f]{32}$", "0" * 32),
}


def path_parameter(path: str, name: str) -> dict[str, Any]:
    """The OpenAPI parameter object of `name` in `path`."""
    rules = PATH_PARAMETERS.items()
    found = [v for (prefix, param), v in rules if param == name and path.startswith(prefix)]
    rule = found[0] if found else {"schema": {"type": "string"}}
    return {"name": name, "in": "path", "required": True, **rule}


@cache
def tiny_png() -> bytes:
    """An 8x8 RGB PNG (a red-green gradient), written without PIL: every route decodes it."""
    width = height = 8
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 32, y * 32, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@cache
def tiny_wav() -> bytes:
    """One second of a 440 Hz tone, 16 kHz mono 16-bit: long enough for one YAMNet frame."""
    rate = 16_000
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(rate)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples)
    return out.getvalue()


def data_uri(kind: str) -> str:
    data, mime = (tiny_png(), "image/png") if kind == "image" else (tiny_wav(), "audio/wav")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def request_examples() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(method, path) -> whole request bodies that succeed on a server with the default
    models and the example resources."""
    image, audio = data_uri("image"), data_uri("audio")
    image_part = {"type": "image_url", "image_url": {"url": image}}
    audio_b64 = base64.b64encode(tiny_wav()).decode("ascii")
    return {
        ("post", "/v1/images/ocr"): [{"image": image}],
        ("post", "/v1/images/captions"): [{"image": image, "ocr": False}],
        ("post", "/v1/audio/classifications"): [{"audio": audio, "top_k": 3}],
        ("post", "/v1/audio/transcriptions"): [{"audio": audio, "response_format": "json"}],
        ("post", "/v1/embeddings"): [
            {"model": "minilm", "input": ["a dog on the beach", "rain on a roof"]},
            {"model": "bridge", "input": [image_part, "a red square"]},
        ],
        ("post", "/v1/classifications"): [
            {"input": image_part, "labels": ["cat", "dog"], "model": "bridge"},
            {"input": "a kitten", "label_set": LABEL_SET},
        ],
        ("post", "/v1/label-sets"): [{"name": "pets", "labels": ["cat", "dog"]}],
        ("post", "/v1/collections"): [{"name": "notes", "model": "minilm"}],
        ("post", "/v1/collections/{name}/items"): [
            {"items": [{"id": ITEM, "content": "a cat", "metadata": {"kind": "photo"}}]},
            {"items": [{"content": image_part}]},
        ],
        ("post", "/v1/collections/{name}/search"): [
            {"query": "a cat", "top_k": 3, "filter": {"kind": "photo"}},
            {"query": {"id": ITEM}},
        ],
        ("post", "/v1/predict"): [
            {"model": f"fusion/{FUSION_MODEL}", "text": "a cat", "image": image, "audio": audio_b64}
        ],
        ("post", "/predict"): [{"text": "a cat", "image": image}],
        ("post", "/v1/fusion/models/{name}/activate"): [{"version": 1}],
    }


# (method, path, status) -> links from that response to the operations that use what it made.
LINKS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("post", "/v1/collections", "200"): {
        "AddItems": {
            "operationId": operation_id("post", "/v1/collections/{name}/items"),
            "parameters": {"name": "$response.body#/name"},
        },
        "Search": {
            "operationId": operation_id("post", "/v1/collections/{name}/search"),
            "parameters": {"name": "$response.body#/name"},
        },
        "GetCollection": {
            "operationId": operation_id("get", "/v1/collections/{name}"),
            "parameters": {"name": "$response.body#/name"},
        },
    },
    ("post", "/v1/collections/{name}/items", "200"): {
        "GetItem": {
            "operationId": operation_id("get", "/v1/collections/{name}/items/{item_id}"),
            "parameters": {"name": "$request.path.name", "item_id": "$response.body#/data/0/id"},
        },
        "ListItems": {
            "operationId": operation_id("get", "/v1/collections/{name}/items"),
            "parameters": {"name": "$request.path.name"},
        },
    },
    ("post", "/v1/fusion/models", "201"): {
        "Activate": {
            "operationId": operation_id("post", "/v1/fusion/models/{name}/activate"),
            "parameters": {"name": "$response.body#/name"},
        },
        "Rollback": {
            "operationId": operation_id("post", "/v1/fusion/models/{name}/rollback"),
            "parameters": {"name": "$response.body#/name"},
        },
        "GetFusionModel": {
            "operationId": operation_id("get", "/v1/fusion/models/{name}"),
            "parameters": {"name": "$response.body#/name"},
        },
    },
    ("post", "/v1/label-sets", "201"): {
        "GetLabelSet": {
            "operationId": operation_id("get", "/v1/label-sets/{name}"),
            "parameters": {"name": "$response.body#/name"},
        },
    },
    ("post", "/v1/jobs", "202"): {
        "GetJob": {
            "operationId": operation_id("get", "/v1/jobs/{job_id}"),
            "parameters": {"job_id": "$response.body#/id"},
        },
    },
}

"""What the store takes and gives back, and the checks on what it takes.

Every check raises a ClientError whose message says what to fix, with `param` naming the
offending field (`items[3].vector`), so the HTTP layer can pass it through unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmserve.errors import InvalidRequest, SchemaError
from mmserve.store import names

MODALITIES = ("text", "image", "audio", "vector")
# Metadata schema types, JSON Schema's names; bool is not an integer here (JSON agrees).
SCHEMA_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
MAX_ID_CHARS = 512
MAX_DIM = 65_536


@dataclass(frozen=True)
class Collection:
    id: str  # internal, random hex
    name: str
    model: str
    dim: int
    metadata_schema: dict[str, str] | None
    created_at: float  # unix seconds
    item_count: int | None  # None where not counted (internal look-ups)


@dataclass(frozen=True)
class ItemInput:
    """One item to upsert. `id` None: the store makes one (32 hex chars)."""

    vector: Sequence[float] | np.ndarray
    modality: str = "vector"
    id: str | None = None
    content_hash: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    text: str | None = None  # the text the vector came from, for the keyword index


@dataclass(frozen=True)
class Item:
    id: str
    modality: str
    content_hash: str | None
    metadata: dict[str, Any]
    vector: np.ndarray  # (dim,) float32, L2-normalised
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float  # cosine similarity, -1..1
    modality: str
    content_hash: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_cursor: str | None  # None: this was the last page


def check_name(name: Any) -> str:
    return names.check_name(name, names.COLLECTION)


def check_metadata_schema(schema: Mapping[str, Any] | None) -> dict[str, str] | None:
    if schema is None:
        return None
    if not isinstance(schema, Mapping):
        raise SchemaError("metadata_schema must be an object {field: type}", param="schema")
    for name, kind in schema.items():
        if kind not in SCHEMA_TYPES:
            raise SchemaError(
                f"metadata_schema field {name!r} has type {kind!r}; use one of "
                + ", ".join(SCHEMA_TYPES),
                param=f"metadata_schema.{name}",
            )
    return dict(schema)


def as_item_input(item: ItemInput | Mapping[str, Any], where: str) -> ItemInput:
    if isinstance(item, ItemInput):
        return item
    if not isinstance(item, Mapping):
        raise SchemaError(f"{where} must be an object with a vector", param=where)
    unknown = set(item) - {"vector", "modality", "id", "content_hash", "metadata", "text"}
    if unknown:
        raise SchemaError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    if "vector" not in item:
        raise SchemaError(f"{where} has no vector", param=f"{where}.vector")
    return ItemInput(**item)


def check_item(
    item: ItemInput, where: str, schema: dict[str, str] | None
) -> tuple[str | None, str, str | None, str]:
    """(id, modality, content_hash, metadata JSON) of an item, or a ClientError."""
    if item.id is not None and (
        not isinstance(item.id, str) or not item.id or len(item.id) > MAX_ID_CHARS
    ):
        raise InvalidRequest(
            f"{where}.id must be a non-empty string of at most {MAX_ID_CHARS} characters, "
            "or absent to have one made",
            param=f"{where}.id",
        )
    if item.modality not in MODALITIES:
        raise InvalidRequest(
            f"{where}.modality is {item.modality!r}; use one of {', '.join(MODALITIES)}",
            param=f"{where}.modality",
        )
    if item.content_hash is not None and not isinstance(item.content_hash, str):
        raise SchemaError(f"{where}.content_hash must be a string", param=f"{where}.content_hash")
    if item.text is not None and not isinstance(item.text, str):
        raise SchemaError(f"{where}.text must be a string", param=f"{where}.text")
    return item.id, item.modality, item.content_hash, metadata_json(item.metadata, where, schema)


def metadata_json(metadata: Any, where: str, schema: dict[str, str] | None) -> str:
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, Mapping):
        raise SchemaError(f"{where}.metadata must be a JSON object", param=f"{where}.metadata")
    for name, kind in (schema or {}).items():
        if name not in metadata or metadata[name] is None:
            continue  # schema fields are optional; present ones must have the type
        value = metadata[name]
        wrong_bool = isinstance(value, bool) and kind != "boolean"
        if wrong_bool or not isinstance(value, SCHEMA_TYPES[kind]):
            raise SchemaError(
                f"{where}.metadata.{name} must be of type {kind} (the collection's schema), "
                f"got {type(value).__name__}",
                param=f"{where}.metadata.{name}",
            )
    try:
        return json.dumps(metadata, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise SchemaError(
            f"{where}.metadata is not JSON-serialisable: {e}", param=f"{where}.metadata"
        ) from e


def one_vector(vector: Any, dim: int, where: str) -> np.ndarray:
    """One (dim,) unit vector; a list of vectors is refused, not truncated."""
    if np.ndim(vector) != 1:
        raise InvalidRequest(f"{where} must be one flat list of {dim} numbers", param=where)
    return normalised(vector, dim, where)[0]


def normalised(vectors: Any, dim: int, where: str) -> np.ndarray:
    """(n, dim) float32 rows scaled to unit length; callers normalise, we make sure."""
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise SchemaError(f"{where}: vectors must be arrays of numbers", param=where) from e
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        got = matrix.shape[-1] if matrix.ndim else 0
        raise InvalidRequest(
            f"{where}: vector has {got} dimensions but the collection was built with {dim}; "
            "embed with the collection's model or create a collection for this model",
            param=where,
            code="dimension_mismatch",
        )
    if not np.isfinite(matrix).all():
        raise InvalidRequest(f"{where}: vectors must not contain NaN or infinity", param=where)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)  # (n, 1)
    if (norms == 0).any():
        raise InvalidRequest(f"{where}: a zero vector has no direction to search", param=where)
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


def check_model(collection: Collection, model: str | None) -> None:
    """Vectors from another model live in another space: comparing them means nothing."""
    if model is not None and model != collection.model:
        raise InvalidRequest(
            f"collection {collection.name!r} holds vectors from model {collection.model!r}, "
            f"not {model!r}; embed with {collection.model!r} or use another collection",
            param="model",
            code="model_mismatch",
        )


def check_dim(dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        raise InvalidRequest(f"dim must be an integer from 1 to {MAX_DIM}", param="dim")
    return dim


def check_top_k(top_k: Any, limit: int) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= limit:
        raise InvalidRequest(f"top_k must be an integer from 1 to {limit}", param="top_k")
    return top_k

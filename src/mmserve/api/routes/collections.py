"""Search collections over HTTP: collections, their items, and search.

    POST/GET   /v1/collections                      create / list
    GET/DELETE /v1/collections/{name}
    POST       /v1/collections/{name}/items         add or upsert a batch (200 = durable)
    GET        /v1/collections/{name}/items         list, cursor pagination
    GET/DELETE /v1/collections/{name}/items/{id}
    POST       /v1/collections/{name}/search

The store (mmserve.store.SearchStore) is services().store, opened once by create_app.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, g, jsonify, request

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas.collections import (
    CollectionCreate,
    CollectionList,
    CollectionOut,
    ItemIn,
    ItemOut,
    ItemPage,
    ItemsAdd,
    ItemsAdded,
    SearchRequest,
    SearchResponse,
    SearchWeights,
)
from mmserve.api.security import readable, security
from mmserve.errors import InvalidRequest, NotFound, SchemaError
from mmserve.models.base import EMBED_TEXT
from mmserve.services.deidentify import (
    blur_piece,
    redact_content,
    redact_value,
    wants_faces,
    wants_text,
)
from mmserve.services.store_embed import Piece, embed_pieces, to_piece
from mmserve.store import Collection, Item, ItemInput, SearchHit

bp = Blueprint("collections", __name__)
MAX_PAGE = 1000  # items per page of GET .../items


# Collections


@bp.post("/v1/collections")
@operation(
    "Create a collection",
    tags=["collections"],
    request=CollectionCreate,
    response=CollectionOut,
    errors=(400, 404, 422, 503),
)
def create_collection() -> Any:
    """The collection records its model and dimension and refuses vectors from another."""
    body = parse_body(CollectionCreate)
    wants_faces(body.deidentify)  # 503 before anything is made if it cannot be done
    svc = services()
    dim = _model_dim(body.model, body.dim)
    found = svc.store.create_collection(
        body.name, model=body.model, dim=dim, metadata_schema=body.metadata_schema
    )
    security().access.forget(found.name)  # nothing left from an earlier one of that name
    if body.deidentify:
        security().access.set_deidentify(found.name, body.deidentify)
    return jsonify(_collection(svc.store.get_collection(found.name)))


@bp.get("/v1/collections")
@operation("List collections", tags=["collections"], response=CollectionList)
def list_collections() -> Any:
    found = services().store.list_collections()
    visible = set(readable([c.name for c in found]))  # restricted ones: owners and readers
    return jsonify(object="list", data=[_collection(c) for c in found if c.name in visible])


@bp.get("/v1/collections/<name>")
@operation("One collection", tags=["collections"], response=CollectionOut, errors=(404,))
def get_collection(name: str) -> Any:
    return jsonify(_collection(services().store.get_collection(name)))


@bp.delete("/v1/collections/<name>")
@operation("Delete a collection and its items", tags=["collections"], errors=(404,))
def delete_collection(name: str) -> Any:
    services().store.delete_collection(name)
    return jsonify(object="collection.deleted", name=name, deleted=True)


# Items


@bp.post("/v1/collections/<name>/items")
@operation(
    "Add or replace items",
    tags=["collections"],
    request=ItemsAdd,
    response=ItemsAdded,
    errors=(400, 404, 413, 422, 429, 500, 503, 504),
)
def add_items(name: str) -> Any:
    """Each item has `content` (embedded with the collection's model, through the embedding
    cache) or a precomputed `vector`. The batch is written in one transaction: a 200 means
    every item is on disk and survives a crash of the server right after."""
    body = parse_body(ItemsAdd)
    kinds = [*body.deidentify, *security().access.deidentify(name)]
    faces, text = wants_faces(kinds), wants_text(kinds, images=True)
    redactions: dict[str, int] = {}  # what was redacted or blurred, by type
    if text:
        body.items = [_redacted(item, redactions) for item in body.items]
    svc = services()
    collection = _find(name)
    limit = svc.config.limits.max_inputs
    if len(body.items) > limit:
        raise InvalidRequest(
            f"items has {len(body.items)} entries; the limit is {limit} (limits.max_inputs). "
            "Split the call.",
            param="items",
        )
    pieces = {}  # item index -> what to embed
    for index, item in enumerate(body.items):
        piece = _check_item(item, f"items[{index}]", collection, svc.config)
        if piece is not None:
            pieces[index] = blur_piece(piece, redactions) if faces else piece
    vectors = embed_pieces(
        svc.pool,
        svc.store,
        collection.model,
        list(pieces.values()),
        timeout_s=svc.config.limits.request_timeout_s,
        request_id=g.get("request_id"),
    )
    embedded = dict(zip(pieces, vectors, strict=True))
    inputs = []
    for index, item in enumerate(body.items):
        if index in pieces:
            piece = pieces[index]
            vector, modality, digest = embedded[index], piece.modality, piece.content_hash
            text = piece.content.value if isinstance(piece.content.value, str) else None
        else:
            vector, modality, digest, text = item.vector, "vector", None, None
        inputs.append(ItemInput(vector, modality, item.id, digest, item.metadata or {}, text))
    ids = svc.store.upsert_items(name, inputs)  # names bad fields: items[3].vector
    data = [{"id": i, "modality": x.modality} for i, x in zip(ids, inputs, strict=True)]
    extra = {"redactions": redactions} if faces or text else {}
    return jsonify(object="list", data=data, **extra)


def _redacted(item: ItemIn, counts: dict[str, int]) -> ItemIn:
    """The item with personal data redacted from its text content and metadata strings:
    what is embedded and stored is the redacted text (ids are kept: they are keys)."""
    return item.model_copy(
        update={
            "content": redact_content(item.content, counts),
            "metadata": redact_value(item.metadata, counts),
        }
    )


@bp.get("/v1/collections/<name>/items")
@operation("List items", tags=["collections"], response=ItemPage, errors=(400, 404))
def list_items(name: str) -> Any:
    """In insertion order; `?limit=` (1-1000, default 100) and `?cursor=` from next_cursor."""
    limit = _int_arg("limit", 100, 1, MAX_PAGE)
    page = services().store.list_items(name, limit=limit, cursor=request.args.get("cursor"))
    vectors = _bool_arg("include_vector")
    return jsonify(
        object="list",
        data=[_item(i, vectors) for i in page.items],
        next_cursor=page.next_cursor,
    )


@bp.get("/v1/collections/<name>/items/<path:item_id>")
@operation("One item", tags=["collections"], response=ItemOut, errors=(404,))
def get_item(name: str, item_id: str) -> Any:
    """`?include_vector=true` adds the stored (L2-normalised) vector."""
    item = services().store.get_item(name, item_id)
    return jsonify(_item(item, _bool_arg("include_vector")))


@bp.delete("/v1/collections/<name>/items/<path:item_id>")
@operation("Delete an item", tags=["collections"], errors=(404,))
def delete_item(name: str, item_id: str) -> Any:
    services().store.delete_item(name, item_id)
    return jsonify(object="item.deleted", id=item_id, deleted=True)


# Search


@bp.post("/v1/collections/<name>/search")
@operation(
    "Search a collection",
    tags=["collections"],
    request=SearchRequest,
    response=SearchResponse,
    errors=(400, 404, 413, 422, 429, 500, 503, 504),
)
def search(name: str) -> Any:
    """The query is a text, a content part (embedded with the collection's model), an
    existing item's id or a vector. Exact below 50,000 items, HNSW re-scored exactly above.
    `mode` "keyword" (BM25 over item text and metadata strings) and "hybrid" (reciprocal rank
    fusion of both) take a text query."""
    body = parse_body(SearchRequest)
    svc = services()
    query = body.query
    options = {"top_k": body.top_k, "filter": body.filter}
    if body.mode != "vector":
        return jsonify(data=[_hit(h) for h in _text_search(name, body, options)])
    if isinstance(query, dict) and set(query) == {"id"}:
        if not isinstance(query["id"], str):
            raise SchemaError("query.id must be a string", param="query.id")
        hits = svc.store.search_by_item(
            name, query["id"], include_self=body.include_self, **options
        )
    else:
        if isinstance(query, dict) and set(query) == {"vector"}:
            vector = _number_list(query["vector"], "query.vector")
        elif isinstance(query, str | dict):
            piece = to_piece(query, "query", svc.config)
            vector = embed_pieces(
                svc.pool,
                svc.store,
                _find(name).model,
                [piece],
                timeout_s=svc.config.limits.request_timeout_s,
                request_id=g.get("request_id"),
            )[0]
        else:
            raise SchemaError(
                'query must be a text, a content part, {"id": ...} or {"vector": [...]}',
                param="query",
            )
        hits = _renamed(lambda: svc.store.search(name, vector, **options), "query.vector")
    return jsonify(data=[_hit(h) for h in hits])


def _text_search(name: str, body: SearchRequest, options: dict[str, Any]) -> list[SearchHit]:
    """mode keyword (BM25 only) or hybrid (the query text embedded too, rankings fused)."""
    if not isinstance(body.query, str) or not body.query.strip():
        raise InvalidRequest(
            f"mode {body.mode!r} needs query to be a non-empty text (keywords are matched "
            'against item text); use mode "vector" for content parts, ids and vectors',
            param="query",
        )
    if body.mode == "keyword":
        hits: list[SearchHit] = services().store.search_keywords(name, body.query, **options)
        return hits
    svc = services()
    vector = embed_pieces(
        svc.pool,
        svc.store,
        _find(name).model,
        [to_piece(body.query, "query", svc.config)],
        timeout_s=svc.config.limits.request_timeout_s,
        request_id=g.get("request_id"),
    )[0]
    weights = (body.weights or SearchWeights()).model_dump()
    hits = svc.store.search_hybrid(name, vector, body.query, weights=weights, **options)
    return hits


def _hit(hit: SearchHit) -> dict[str, Any]:
    return {"id": hit.id, "score": hit.score, "metadata": hit.metadata, "modality": hit.modality}


# Helpers


def _find(name: str) -> Collection:
    """The collection without its item count (get_collection counts every row: O(n))."""
    found: Collection = services().store.rows.find(name)
    return found


def _model_dim(model_id: str, dim: int | None) -> int:
    """The served model's dimension; a model that is not served needs an explicit dim."""
    runner = services().pool.find(model_id)
    if runner is None:
        if dim is None:
            raise NotFound(
                f"model {model_id!r} is not served here; served: "
                f"{', '.join(services().pool.runners)}. For precomputed vectors from another "
                "model, give `dim`",
                param="model",
                code="model_not_found",
            )
        return dim
    served = runner.model.describe().get("dimensions")
    if served is None and dim is None:
        services().pool.get(model_id, EMBED_TEXT)  # says which models can embed
    if dim is not None and served is not None and dim != served:
        raise InvalidRequest(
            f"dim is {dim} but model {model_id!r} makes {served}-d vectors; omit dim",
            param="dim",
            code="dimension_mismatch",
        )
    return int(dim or served)


def _check_item(item: ItemIn, where: str, collection: Collection, config: Any) -> Piece | None:
    """What to embed for the item (None: it brings its vector), checked before any work."""
    if (item.content is None) == (item.vector is None):
        raise SchemaError(f"{where}: give exactly one of content or vector", param=where)
    if item.model is not None and item.model != collection.model:
        raise InvalidRequest(
            f"{where}.model is {item.model!r} but collection {collection.name!r} holds vectors "
            f"from {collection.model!r}; vectors from different models are not comparable",
            param=f"{where}.model",
            code="model_mismatch",
        )
    return None if item.content is None else to_piece(item.content, f"{where}.content", config)


def _renamed(call: Any, param: str) -> Any:
    """The store calls a query vector "vector"; the client sent "query.vector"."""
    try:
        return call()
    except InvalidRequest as e:
        if e.param == "vector":
            e.param = param
            e.message = e.message.replace("vector:", f"{param}:", 1)
            e.args = (e.message,)
        raise


def _number_list(value: Any, param: str) -> np.ndarray:
    array = np.asarray(value) if isinstance(value, list) else None
    if array is None or array.ndim != 1 or array.dtype.kind not in "if":  # no bools, no text
        raise SchemaError(f"{param} must be a flat list of numbers", param=param)
    return array


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}", param=name)
    return value


def _bool_arg(name: str) -> bool:
    return request.args.get(name, "false").lower() in ("1", "true", "yes")


def _collection(c: Collection) -> dict[str, Any]:
    return {
        "object": "collection",
        "name": c.name,
        "model": c.model,
        "dim": c.dim,
        "metadata_schema": c.metadata_schema,
        "created_at": int(c.created_at),
        "item_count": c.item_count,
        **_deidentify_of(c.name),
    }


def _deidentify_of(name: str) -> dict[str, Any]:
    """{"deidentify": [...]} for a collection that strips on every write, else nothing."""
    kinds = security().access.deidentify(name)
    return {"deidentify": kinds} if kinds else {}


def _item(item: Item, with_vector: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "object": "item",
        "id": item.id,
        "modality": item.modality,
        "content_hash": item.content_hash,
        "metadata": item.metadata,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }
    if with_vector:
        out["vector"] = item.vector.tolist()
    return out

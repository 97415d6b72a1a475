"""Request and response schemas of the collection, item and search routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from mmserve.config import Limits
from mmserve.services.deidentify import Deidentify
from mmserve.store.names import COLLECTION
from mmserve.store.records import MAX_DIM, MAX_ID_CHARS, SCHEMA_TYPES
from mmserve.store.settings import StoreConfig

Number = StrictInt | StrictFloat
# Limits the store enforces (with messages of its own), declared in the document. Those that
# are settings are declared at their defaults.
NAME = {"pattern": COLLECTION.json_pattern, "maxLength": 128}
MAX_TOP_K = StoreConfig().max_top_k
MAX_ITEMS = Limits().max_inputs
TYPES = {"enum": list(SCHEMA_TYPES)}
MAX_WEIGHT = 100


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(
        description="1-128 letters, digits, '_', '.', '-'",
        examples=["photos"],
        json_schema_extra=NAME,
    )
    model: StrictStr = Field(
        description="The embedding model of every item; a served model, or any name with "
        "`dim` for precomputed vectors only",
        examples=["minilm"],
    )
    dim: StrictInt | None = Field(
        None,
        description="Vector dimension; default: the served model's",
        gt=0,
        json_schema_extra={"maximum": MAX_DIM},
    )
    metadata_schema: dict[str, Annotated[StrictStr, Field(json_schema_extra=TYPES)]] | None = Field(
        None,
        description='Optional types of metadata fields: "string", "integer", "number", '
        '"boolean", "array", "object"',
        examples=[{"kind": "string", "year": "integer"}],
    )
    deidentify: Deidentify  # applied to every write, besides what a request asks


class CollectionOut(BaseModel):
    object: str = "collection"
    name: str
    model: str
    dim: int
    metadata_schema: dict[str, str] | None
    created_at: int
    item_count: int | None
    deidentify: list[str] = Field(
        default_factory=list,
        description="What every write to the collection strips (present only when set)",
    )


class CollectionList(BaseModel):
    object: str = "list"
    data: list[CollectionOut]


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: StrictStr | None = Field(
        None,
        description="Omit to have one made; an existing id is replaced",
        json_schema_extra={"minLength": 1, "maxLength": MAX_ID_CHARS},
    )
    content: Any = Field(
        None,
        description="A text, or a content part in the forms /v1/embeddings accepts",
        examples=["a dog on the beach"],
    )
    vector: list[Number] | None = Field(None, description="A precomputed vector instead of content")
    model: StrictStr | None = Field(
        None, description="The model that made `vector`; refused unless it is the collection's"
    )
    metadata: dict[str, Any] | None = Field(None, examples=[{"kind": "photo", "year": 2021}])


class ItemsAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] = Field(
        min_length=1,
        description=f"At most limits.max_inputs items ({MAX_ITEMS} by default)",
        json_schema_extra={"maxItems": MAX_ITEMS},
    )
    deidentify: Deidentify


class ItemRef(BaseModel):
    id: str
    modality: str


class ItemsAdded(BaseModel):
    object: str = "list"
    data: list[ItemRef]
    redactions: dict[str, int] | None = Field(
        None,
        description='With deidentify "text" or "faces": what was redacted before storing, by '
        "type (EMAIL, PHONE, ..., FACE: faces blurred in images)",
    )


class ItemOut(BaseModel):
    object: str = "item"
    id: str
    modality: str
    content_hash: str | None
    metadata: dict[str, Any]
    created_at: float
    updated_at: float
    vector: list[float] | None = Field(None, description="Only with ?include_vector=true")


class ItemPage(BaseModel):
    object: str = "list"
    data: list[ItemOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null: done")


class SearchWeights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vector: Number = Field(1, ge=0, le=MAX_WEIGHT)
    keyword: Number = Field(1, ge=0, le=MAX_WEIGHT)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Any = Field(
        description='A text, a content part, {"id": "<item id>"} or {"vector": [...]}',
        examples=["a dog on the beach", {"id": "img-1"}],
    )
    top_k: StrictInt = Field(
        10,
        ge=1,
        description=f"At most the store's max_top_k ({MAX_TOP_K} by default)",
        json_schema_extra={"maximum": MAX_TOP_K},
    )
    filter: dict[str, Any] | None = Field(
        None,
        description="Metadata filter: equality, {'in': [...]}, {'gte'|'gt'|'lte'|'lt': n}",
        examples=[{"kind": "photo", "tag": {"in": ["a", "b"]}, "year": {"gte": 2020, "lt": 2024}}],
    )
    include_self: bool = Field(False, description="For an id query: include that item itself")
    mode: Literal["vector", "keyword", "hybrid"] = Field(
        "vector",
        description="vector: cosine similarity; keyword: BM25 over item text and metadata "
        "strings; hybrid: both fused by reciprocal rank (k=60). keyword and hybrid need a text "
        "query",
    )
    weights: SearchWeights | None = Field(
        None, description="hybrid only: the weight of each ranking in the fusion (1 and 1)"
    )


class SearchHitOut(BaseModel):
    id: str
    score: float
    metadata: dict[str, Any]
    modality: str


class SearchResponse(BaseModel):
    data: list[SearchHitOut]

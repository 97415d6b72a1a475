"""The routes, as methods that describe a call (a `Call`) and hand it to the client.

Each method returns what `self._do(call)` returns: the parsed result for `Client`, an
awaitable of it for `AsyncClient`. So one set of methods serves both; only waiting on a
job and streaming a transcript differ (in _client.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mmserve.client import types as t
from mmserve.client._media import content_part, media_field


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    result: Any = None  # the type to parse the body into; None: the JSON as it is
    unwrap: str | None = None  # take this key of the body first ("data" of a list)
    accept: tuple[int, ...] = ()  # non-2xx statuses that are answers, not errors
    retry: bool = True


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def _drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class Resource:
    def __init__(self, do: Callable[[Call], Any]):
        self._do = do


class Models(Resource):
    def list(self) -> Any:
        return self._do(Call("GET", "/v1/models", result=list[t.ModelCard], unwrap="data"))

    def get(self, model_id: str) -> Any:
        return self._do(Call("GET", "/v1/models/" + quote(model_id), result=t.ModelCard))


class Collections(Resource):
    def create(
        self,
        name: str,
        model: str,
        *,
        dim: int | None = None,
        metadata_schema: dict[str, str] | None = None,
    ) -> Any:
        body = _drop_none(name=name, model=model, dim=dim, metadata_schema=metadata_schema)
        return self._do(Call("POST", "/v1/collections", json=body, result=t.Collection))

    def list(self) -> Any:
        return self._do(Call("GET", "/v1/collections", result=list[t.Collection], unwrap="data"))

    def get(self, name: str) -> Any:
        return self._do(Call("GET", _path("v1", "collections", name), result=t.Collection))

    def delete(self, name: str) -> Any:
        return self._do(Call("DELETE", _path("v1", "collections", name)))


class Items(Resource):
    def add(self, collection: str, items: list[dict[str, Any]]) -> Any:
        """items: {"id"?, "content"? (text or content part), "vector"?, "metadata"?}; use
        `image_item()`/`audio_item()` for media. Returns the ids given or made."""
        path = _path("v1", "collections", collection, "items")
        call = Call("POST", path, json={"items": items}, result=list[t.ItemRef], unwrap="data")
        return self._do(call)

    def list(
        self,
        collection: str,
        *,
        limit: int = 100,
        cursor: str | None = None,
        include_vector: bool = False,
    ) -> Any:
        params = _drop_none(limit=limit, cursor=cursor, include_vector=include_vector or None)
        path = _path("v1", "collections", collection, "items")
        return self._do(Call("GET", path, params=params, result=t.ItemPage))

    def get(self, collection: str, item_id: str, *, include_vector: bool = False) -> Any:
        path = _path("v1", "collections", collection, "items", item_id)
        params = {"include_vector": "true"} if include_vector else None
        return self._do(Call("GET", path, params=params, result=t.Item))

    def delete(self, collection: str, item_id: str) -> Any:
        return self._do(Call("DELETE", _path("v1", "collections", collection, "items", item_id)))


def image_item(image: Any, *, id: str | None = None, metadata: dict[str, Any] | None = None):
    return _drop_none(id=id, content=content_part(image, "image"), metadata=metadata)


def audio_item(audio: Any, *, id: str | None = None, metadata: dict[str, Any] | None = None):
    return _drop_none(id=id, content=content_part(audio, "audio"), metadata=metadata)


def search_call(
    collection: str,
    *,
    text: str | None = None,
    image: Any = None,
    audio: Any = None,
    item_id: str | None = None,
    vector: list[float] | None = None,
    top_k: int = 10,
    filter: dict[str, Any] | None = None,
    include_self: bool = False,
    mode: str | None = None,
    weights: dict[str, float] | None = None,
) -> Call:
    """mode: "vector" (the server's default), "keyword" or "hybrid" (text= only);
    weights: {"vector": w, "keyword": w} for hybrid."""
    given = {
        "text": text,
        "image": image,
        "audio": audio,
        "item_id": item_id,
        "vector": vector,
    }
    chosen = [name for name, value in given.items() if value is not None]
    if len(chosen) != 1:
        raise ValueError(f"give exactly one of {', '.join(given)} to search by; got {chosen}")
    query: Any = {
        "text": lambda: text,
        "image": lambda: content_part(image, "image"),
        "audio": lambda: content_part(audio, "audio"),
        "item_id": lambda: {"id": item_id},
        "vector": lambda: {"vector": list(vector or [])},
    }[chosen[0]]()
    body = _drop_none(query=query, top_k=top_k, filter=filter, mode=mode, weights=weights)
    if include_self:
        body["include_self"] = True
    path = _path("v1", "collections", collection, "search")
    return Call("POST", path, json=body, result=list[t.SearchHit], unwrap="data")


class LabelSets(Resource):
    def create(
        self, name: str, labels: list[str], *, prompt: str | None = None, model: str | None = None
    ) -> Any:
        body = _drop_none(name=name, labels=labels, prompt=prompt, model=model)
        return self._do(Call("POST", "/v1/label-sets", json=body, result=t.LabelSet))

    def list(self) -> Any:
        return self._do(Call("GET", "/v1/label-sets", result=list[t.LabelSet], unwrap="data"))

    def get(self, name: str) -> Any:
        return self._do(Call("GET", _path("v1", "label-sets", name), result=t.LabelSet))

    def delete(self, name: str) -> Any:
        return self._do(Call("DELETE", _path("v1", "label-sets", name)))


def classify_call(
    *,
    text: str | None = None,
    image: Any = None,
    audio: Any = None,
    labels: list[str] | None = None,
    label_set: str | None = None,
    prompt: str | None = None,
    model: str | None = None,
    top_k: int | None = None,
) -> Call:
    inputs = [
        (k, v) for k, v in (("text", text), ("image", image), ("audio", audio)) if v is not None
    ]
    if len(inputs) != 1:
        raise ValueError("give exactly one of text, image, audio to classify")
    kind, value = inputs[0]
    item = value if kind == "text" else content_part(value, kind)
    body = _drop_none(
        input=item, labels=labels, label_set=label_set, prompt=prompt, model=model, top_k=top_k
    )
    return Call("POST", "/v1/classifications", json=body, result=t.Classification)


class Images(Resource):
    def caption(self, image: Any, *, model: str | None = None, ocr: bool = False) -> Any:
        body = _drop_none(image=media_field(image, "image"), model=model)
        if ocr:
            body["ocr"] = True
        return self._do(Call("POST", "/v1/images/captions", json=body, result=t.Caption))

    def ocr(self, image: Any, *, model: str | None = None) -> Any:
        body = _drop_none(image=media_field(image, "image"), model=model)
        return self._do(Call("POST", "/v1/images/ocr", json=body, result=t.Ocr))


def transcription_body(audio: Any, **options: Any) -> dict[str, Any]:
    return _drop_none(audio=media_field(audio, "audio"), **options)


class Audio(Resource):
    def tags(
        self,
        audio: Any,
        *,
        model: str | None = None,
        top_k: int | None = None,
        pooling: str | None = None,
    ) -> Any:
        body = _drop_none(audio=media_field(audio, "audio"), model=model, top_k=top_k)
        body.update(_drop_none(pooling=pooling))
        return self._do(Call("POST", "/v1/audio/classifications", json=body, result=t.AudioTags))

    def transcribe(
        self,
        audio: Any,
        *,
        model: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
    ) -> Any:
        """The text with segments (verbose_json); `stream_transcription` for events."""
        body = transcription_body(
            audio, model=model, language=language, prompt=prompt, response_format="verbose_json"
        )
        call = Call("POST", "/v1/audio/transcriptions", json=body, result=t.Transcription)
        return self._do(call)


class FusionModels(Resource):
    def register(self, name: str, path: str, *, activate: bool = True) -> Any:
        body = {"name": name, "path": path, "activate": activate}
        return self._do(Call("POST", "/v1/fusion/models", json=body, result=t.FusionModel))

    def list(self) -> Any:
        call = Call("GET", "/v1/fusion/models", result=list[t.FusionModel], unwrap="data")
        return self._do(call)

    def get(self, name: str) -> Any:
        return self._do(Call("GET", _path("v1", "fusion", "models", name), result=t.FusionModel))

    def activate(self, name: str, version: int) -> Any:
        path = _path("v1", "fusion", "models", name, "activate")
        return self._do(Call("POST", path, json={"version": version}, result=t.FusionModel))

    def rollback(self, name: str) -> Any:
        path = _path("v1", "fusion", "models", name, "rollback")
        return self._do(Call("POST", path, json={}, result=t.FusionModel))

    def delete(self, name: str) -> Any:
        return self._do(Call("DELETE", _path("v1", "fusion", "models", name)))


def predict_call(
    *, model: str | None = None, text: str | None = None, image: Any = None, audio: Any = None
) -> Call:
    body = _drop_none(
        model=model,
        text=text,
        image=None if image is None else media_field(image, "image"),
        audio=None if audio is None else media_field(audio, "audio"),
    )
    return Call("POST", "/v1/predict", json=body, result=t.Prediction)


def rerank_call(
    query: Any,
    documents: list[Any],
    *,
    model: str | None = None,
    top_n: int | None = None,
    return_documents: bool = False,
) -> Call:
    """Texts and content-part dicts go as they are; anything else (Path, bytes, PIL, numpy)
    is sent as an image part."""
    body = _drop_none(
        query=content_part(query, "image"),
        documents=[content_part(d, "image") for d in documents],
        model=model,
        top_n=top_n,
        return_documents=return_documents,
    )
    return Call("POST", "/v1/rerank", json=body, result=t.Rerank)


def usage_call(
    *, period: str | None = None, date: str | None = None, key: str | None = None
) -> Call:
    params = _drop_none(period=period, date=date, key=key)
    return Call("GET", "/v1/usage", params=params)  # no response schema: the JSON as it is


class AlignedModels(Resource):
    """The aligned model registry: the fusion registry's shapes (FusionModel results)."""

    def register(self, name: str, path: str, *, activate: bool = True) -> Any:
        body = {"name": name, "path": path, "activate": activate}
        return self._do(Call("POST", "/v1/aligned/models", json=body, result=t.FusionModel))

    def list(self) -> Any:
        call = Call("GET", "/v1/aligned/models", result=list[t.FusionModel], unwrap="data")
        return self._do(call)

    def get(self, name: str) -> Any:
        return self._do(Call("GET", _path("v1", "aligned", "models", name), result=t.FusionModel))

    def activate(self, name: str, version: int) -> Any:
        path = _path("v1", "aligned", "models", name, "activate")
        return self._do(Call("POST", path, json={"version": version}, result=t.FusionModel))

    def rollback(self, name: str) -> Any:
        path = _path("v1", "aligned", "models", name, "rollback")
        return self._do(Call("POST", path, json={}, result=t.FusionModel))

    def delete(self, name: str) -> Any:
        return self._do(Call("DELETE", _path("v1", "aligned", "models", name)))


class Jobs(Resource):
    def create(self, type: str, params: dict[str, Any] | None = None) -> Any:
        body = {"type": type, "params": params or {}}
        return self._do(Call("POST", "/v1/jobs", json=body, result=t.Job))

    def list(
        self, *, state: str | None = None, type: str | None = None, limit: int | None = None
    ) -> Any:
        params = _drop_none(state=state, type=type, limit=limit)
        return self._do(Call("GET", "/v1/jobs", params=params, result=list[t.Job], unwrap="data"))

    def get(self, job_id: str) -> Any:
        return self._do(Call("GET", _path("v1", "jobs", job_id), result=t.Job))

    def cancel(self, job_id: str) -> Any:
        return self._do(Call("DELETE", _path("v1", "jobs", job_id), result=t.Job))

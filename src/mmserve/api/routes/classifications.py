"""Zero-shot classification of a text, an image or a clip against labels, and label sets.

    POST   /v1/classifications        {input, labels | label_set, prompt?, model?, top_k?}
    POST   /v1/label-sets             {name, labels, prompt?, model?}: embedded once, stored
    GET    /v1/label-sets             every set (without vectors)
    GET    /v1/label-sets/{name}
    DELETE /v1/label-sets/{name}

The input and the labels are embedded by one model (a multimodal one such as `bridge` for
images and audio); each label's score is softmax(cosine / TEMPERATURE) over all labels, and
its raw cosine is returned beside it as `similarity`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, g, jsonify

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas.classifications import (
    MAX_LABEL_CHARS,
    MAX_LABELS,
    ClassificationRequest,
    ClassificationResponse,
    Deleted,
    LabelSetList,
    LabelSetRequest,
    LabelSetResponse,
)
from mmserve.errors import InvalidRequest
from mmserve.models.base import EMBED_AUDIO, EMBED_IMAGE, EMBED_TEXT, l2_normalise
from mmserve.services.content import Content, embed_contents, parse_content
from mmserve.store.label_sets import LabelSet, LabelSetStore, check_name, now

bp = Blueprint("classifications", __name__)

# Softmax temperature over cosines. With bridge a close call is a lead of ~0.05 in cosine
# and a clear one ~0.2-0.5: 0.05 makes those e (2.7x), e^4 (55x) and beyond the odds, so
# close calls stay visibly close and clear ones near 1.
TEMPERATURE = 0.05


def label_sets() -> LabelSetStore:
    return services().label_sets


@bp.post("/v1/classifications")
@operation(
    "Classify a text, image or audio clip against labels (zero-shot)",
    tags=["classifications"],
    request=ClassificationRequest,
    response=ClassificationResponse,
    errors=(400, 404, 413, 422, 429, 500, 503, 504),
)
def classify() -> Any:
    body = parse_body(ClassificationRequest)
    svc = services()
    item = parse_content(body.input, param="input", config=svc.config)
    timeout = svc.config.limits.request_timeout_s
    if (body.labels is None) == (body.label_set is None):
        raise InvalidRequest(
            "send either 'labels' (a list) or 'label_set' (a stored set's name), not both "
            "nor neither",
            param="labels",
        )
    if body.label_set is not None:
        stored, anchors = label_sets().get(check_name(body.label_set, "label_set"))
        if body.model is not None and body.model != stored.model:
            raise InvalidRequest(
                f"label set {stored.name!r} was embedded by {stored.model!r}; omit 'model' or "
                f"name that one",
                param="model",
            )
        if body.prompt is not None:
            raise InvalidRequest(
                "a label set keeps the prompt it was made with; omit 'prompt'", param="prompt"
            )
        embedded = embed_contents(
            svc.pool,
            [item],
            model=stored.model,
            timeout_s=timeout,
            request_id=g.get("request_id"),
            params=["input"],
        )
        labels, vector, model = list(stored.labels), embedded.vectors[0], stored.model
    else:
        labels = checked_labels(body.labels or [], "labels")
        prompt = checked_prompt(body.prompt or "{}", "prompt")
        texts = [Content("text", prompt.format(label)) for label in labels]
        embedded = embed_contents(
            svc.pool,
            [item, *texts],
            model=body.model,
            timeout_s=timeout,
            request_id=g.get("request_id"),
            params=["input", *(f"labels[{i}]" for i in range(len(labels)))],
        )
        vector, anchors = embedded.vectors[0], np.stack(embedded.vectors[1:])
        model = embedded.model_id
    if anchors.shape[1] != len(vector):
        raise InvalidRequest(
            f"label set {body.label_set!r} has {anchors.shape[1]}-d vectors; model {model!r} "
            f"now gives {len(vector)}-d. Create the set again",
            param="label_set",
        )
    return jsonify(
        {
            "object": "classification",
            "model": model,
            "label_set": body.label_set,
            "temperature": TEMPERATURE,
            "data": ranked(labels, l2_normalise(anchors) @ l2_normalise(vector), body.top_k),
        }
    )


def ranked(labels: list[str], cosines: np.ndarray, top_k: int | None) -> list[dict[str, Any]]:
    """Labels by descending score: softmax(cosine / TEMPERATURE), with the cosine beside."""
    logits = cosines.astype(np.float64) / TEMPERATURE
    scores = np.exp(logits - logits.max())
    scores /= scores.sum()
    order = np.argsort(-cosines, kind="stable")[:top_k]
    return [
        {"label": labels[i], "score": float(scores[i]), "similarity": float(cosines[i])}
        for i in order
    ]


def checked_labels(labels: list[str], field: str) -> list[str]:
    if not labels:
        raise InvalidRequest(f"{field} must hold at least one label", param=field)
    if len(labels) > MAX_LABELS:
        raise InvalidRequest(
            f"{field} has {len(labels)} labels; the limit is {MAX_LABELS}",
            param=field,
            code="too_many_labels",
        )
    seen: set[str] = set()
    for index, label in enumerate(labels):
        where = f"{field}[{index}]"
        if not label.strip():
            raise InvalidRequest(f"{where} must not be empty or whitespace only", param=where)
        if len(label) > MAX_LABEL_CHARS:
            raise InvalidRequest(
                f"{where} has {len(label)} characters; the limit is {MAX_LABEL_CHARS}",
                param=where,
                code="label_too_long",
            )
        if label in seen:
            raise InvalidRequest(f"{where}: {label!r} is repeated", param=where)
        seen.add(label)
    return labels


def checked_prompt(prompt: str, field: str) -> str:
    if prompt.count("{}") != 1 or len(prompt) > MAX_LABEL_CHARS:
        raise InvalidRequest(
            f"{field} must hold '{{}}' exactly once (where each label goes), like "
            f"'a photo of a {{}}', in at most {MAX_LABEL_CHARS} characters",
            param=field,
        )
    try:
        prompt.format("label")
    except (IndexError, KeyError, ValueError):
        raise InvalidRequest(
            f"{field}: only '{{}}' may appear in braces; double other braces", param=field
        ) from None
    return prompt


@bp.post("/v1/label-sets")
@operation(
    "Create a label set (embedded once, stored)",
    tags=["classifications"],
    request=LabelSetRequest,
    response=LabelSetResponse,
    errors=(400, 404, 422, 429, 500, 503, 504),
    status=201,
)
def create_label_set() -> Any:
    body = parse_body(LabelSetRequest)
    svc = services()
    name = check_name(body.name)
    labels = checked_labels(body.labels, "labels")
    prompt = checked_prompt(body.prompt, "prompt")
    embedded = embed_contents(
        svc.pool,
        [Content("text", prompt.format(label)) for label in labels],
        model=body.model or default_label_model(),
        timeout_s=svc.config.limits.request_timeout_s,
        request_id=g.get("request_id"),
        params=[f"labels[{i}]" for i in range(len(labels))],
    )
    vectors = np.stack(embedded.vectors)
    created = label_sets().create(
        LabelSet(name, tuple(labels), embedded.model_id, prompt, vectors.shape[1], now()),
        vectors,
    )
    return jsonify(_card(created)), 201


def default_label_model() -> str:
    """The first model that embeds text and images or audio (labels are for classifying
    those), else the first that embeds text."""
    pool = services().pool
    texts = pool.with_capability(EMBED_TEXT)
    media = set(pool.with_capability(EMBED_IMAGE)) | set(pool.with_capability(EMBED_AUDIO))
    return next((m for m in texts if m in media), None) or pool.default_for(EMBED_TEXT).model.id


@bp.get("/v1/label-sets")
@operation("List label sets", tags=["classifications"], response=LabelSetList)
def list_label_sets() -> Any:
    return jsonify({"object": "list", "data": [_card(s) for s in label_sets().list()]})


@bp.get("/v1/label-sets/<name>")
@operation("Get a label set", tags=["classifications"], response=LabelSetResponse, errors=(404,))
def get_label_set(name: str) -> Any:
    return jsonify(_card(label_sets().get(check_name(name, "name"))[0]))


@bp.delete("/v1/label-sets/<name>")
@operation("Delete a label set", tags=["classifications"], response=Deleted, errors=(404,))
def delete_label_set(name: str) -> Any:
    label_sets().delete(check_name(name, "name"))
    return jsonify({"object": "label_set.deleted", "name": name, "deleted": True})


def _card(label_set: LabelSet) -> dict[str, Any]:
    return {"object": "label_set", **label_set.to_dict()}

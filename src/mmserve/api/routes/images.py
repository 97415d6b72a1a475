"""POST /v1/images/ocr and POST /v1/images/captions: what is in one image, as text.

No captioning model installs offline (see docs/images.md), so by default a caption is
*composed*: a template sentence from the ImageNet classifier's top labels and the OCR text,
and the response says so ("method": "composed"). A served model with the caption_image
capability (a user's own BLIP checkpoint) writes real captions instead ("method": "model").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, g, jsonify

from mmserve.api.common import services, takes_one_upload
from mmserve.api.media_input import media_param, request_image, request_options
from mmserve.api.openapi import operation
from mmserve.api.schemas.images import CaptionRequest, CaptionResponse, ImageRequest, OcrResponse
from mmserve.batching.runner import ModelRunner
from mmserve.errors import ClientError, UnsupportedCapability
from mmserve.models.base import CAPTION_IMAGE, CLASSIFY_IMAGE, OCR
from mmserve.services.deidentify import redact_lines, wants_text

bp = Blueprint("images", __name__)

TOP_LABELS = 5  # labels returned with a caption
SURE = 0.5  # top probability above which a composed caption names one class
LIKELY = 0.15  # above which it names the top two; below, it hedges
CAPTION_TEXT_CONFIDENCE = 0.8  # OCR lines below this stay out of the caption (not the text)
CAPTION_TEXT_CHARS = 80  # longer text is cut with an ellipsis in the caption
CAPTION_LINE_MIN_CHARS = 2  # lone characters are mostly texture read as text ('8' on a cup)
ERRORS = (400, 404, 413, 422, 429, 500, 503, 504)


@bp.post("/v1/images/ocr")
@takes_one_upload("image")
@operation(
    "Read the text in an image",
    tags=["images"],
    request=ImageRequest,
    response=OcrResponse,
    errors=ERRORS,
)
def ocr() -> Any:
    """Printed text, line by line in reading order, with boxes and confidences. The image
    comes as JSON `image` or as a multipart upload named `file`."""
    body = request_options(ImageRequest)
    redactions: dict[str, int] | None = {} if wants_text(body.deidentify) else None
    runner = _runner(body.model, OCR)
    image = request_image("image")
    lines = _run(runner, image)
    if redactions is not None:
        lines = redact_lines(lines, redactions)
    answer = {"model": runner.model.id, "text": "\n".join(line["text"] for line in lines)}
    answer["lines"] = lines
    if redactions is not None:
        answer["redactions"] = redactions
    return jsonify(answer)


@bp.post("/v1/images/captions")
@takes_one_upload("image")
@operation(
    "Describe an image in one sentence",
    tags=["images"],
    request=CaptionRequest,
    response=CaptionResponse,
    errors=ERRORS,
)
def captions() -> Any:
    """With a captioning model (caption_image) the caption is the model's. Otherwise it is
    composed from the ImageNet classifier's top labels and the text OCR reads, e.g.
    "A photo of a tabby cat." or "A photo of a street sign with the text 'STOP'."; it is
    not written by a captioning model, and the response says so in `method`."""
    body = request_options(CaptionRequest)
    redactions: dict[str, int] | None = {} if wants_text(body.deidentify) else None
    runner = _caption_runner(body.model)
    if CAPTION_IMAGE in runner.model.capabilities:
        image = request_image("image", runner.model.image_min_side)
        caption = _model_caption(_run(runner, image))
        return jsonify(_caption_body(caption, "model", [], "", runner.model.id, None))
    ocr_runner = _default_ocr() if body.ocr else None
    # OCR reads small print at full size; a classifier alone may have the JPEG decoded small.
    image = request_image("image", None if ocr_runner else runner.model.image_min_side)
    probs = _run(runner, image)
    labels = top_labels(probs, runner.model.class_names, TOP_LABELS)
    lines = _run(ocr_runner, image) if ocr_runner else []
    if redactions is not None:
        lines = redact_lines(lines, redactions)
    caption = compose_caption(labels, lines)
    text = "\n".join(line["text"] for line in lines)
    ocr_id = ocr_runner.model.id if ocr_runner else None
    answer = _caption_body(caption, "composed", labels, text, runner.model.id, ocr_id)
    if redactions is not None:
        answer["redactions"] = redactions
    return jsonify(answer)


def top_labels(probs: np.ndarray, names: list[str], k: int) -> list[dict[str, Any]]:
    order = np.argsort(-probs)[:k]
    return [{"label": names[i], "score": round(float(probs[i]), 4)} for i in order]


def compose_caption(labels: list[dict[str, Any]], lines: list[dict[str, Any]]) -> str:
    """One sentence from the top labels (hedged by their scores) and the confident OCR text."""
    first, second = labels[0], labels[1] if len(labels) > 1 else None
    if first["score"] >= SURE or second is None:
        subject = f"A photo of {_article(first['label'])}"
    elif first["score"] >= LIKELY:
        subject = f"A photo of {_article(first['label'])} or {_article(second['label'])}"
    else:
        subject = f"A photo that may show {_article(first['label'])}"
    words = " ".join(
        line["text"].strip()
        for line in lines
        if line["confidence"] >= CAPTION_TEXT_CONFIDENCE
        and len(line["text"].strip()) >= CAPTION_LINE_MIN_CHARS
    )
    if len(words) > CAPTION_TEXT_CHARS:
        words = words[: CAPTION_TEXT_CHARS - 1].rstrip() + "…"
    return f"{subject} with the text '{words}'." if words else f"{subject}."


def _article(label: str) -> str:
    name = label.split(" / ")[0]  # "handrail / baluster" -> "handrail"
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def _caption_body(
    caption: str,
    method: str,
    labels: list[dict[str, Any]],
    text: str,
    model_id: str,
    ocr_id: str | None,
) -> dict[str, Any]:
    return {
        "caption": caption,
        "method": method,
        "labels": labels,
        "text": text,
        "model": model_id,
        "ocr_model": ocr_id,
    }


def _model_caption(output: Any) -> str:
    """A captioning model's output: the caption itself, or a dict holding it."""
    if isinstance(output, dict):
        output = output.get("caption") or output.get("text") or ""
    return str(output).strip()


def _runner(model_id: str | None, capability: str) -> ModelRunner:
    pool = services().pool
    return pool.get(model_id, capability) if model_id else pool.default_for(capability)


def _caption_runner(model_id: str | None) -> ModelRunner:
    """The asked-for model if it captions or classifies images; by default a captioning
    model if one is served (it writes better captions), else the first classifier."""
    pool = services().pool
    able = pool.with_capability(CAPTION_IMAGE) + pool.with_capability(CLASSIFY_IMAGE)
    if model_id is None:
        if not able:
            raise UnsupportedCapability(
                "no served model can caption or classify images; start the server with one, "
                "e.g. --models efficientnet-lite0,rapidocr",
                param="model",
            )
        return pool.runners[able[0]]
    runner = pool.get(model_id)
    if not runner.model.capabilities & {CAPTION_IMAGE, CLASSIFY_IMAGE}:
        raise UnsupportedCapability(
            f"model {model_id!r} can neither caption nor classify images; models that can: "
            f"{', '.join(able) or 'none served'}",
            param="model",
        )
    return runner


def _default_ocr() -> ModelRunner | None:
    able = services().pool.with_capability(OCR)
    return services().pool.runners[able[0]] if able else None


def _run(runner: ModelRunner, image: Any) -> Any:
    """One image through a model's batcher; its preprocessing errors name the image field."""
    try:
        payload = runner.model.preprocess(image)
    except ClientError as e:
        e.param = media_param("image")
        raise
    svc = services()
    return runner.infer([payload], svc.config.limits.request_timeout_s, g.get("request_id"))[0]

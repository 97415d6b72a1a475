"""Content of any modality in a request: parse it, and embed it with one model.

    parse_content(value, *, param="input", config=None, image_min_side=None) -> Content
    parse_inputs(value, *, config=None, field="input", image_min_side=None) -> list[Content]
    image_side(pool, model) -> the named model's image_min_side, for parse_*
    embed_contents(pool, contents, *, model=None, timeout_s, request_id=None, params=None)
        -> Embedded(model_id, vectors, payloads, text_tokens)
    modality_capability(modality) -> EMBED_TEXT | EMBED_IMAGE | EMBED_AUDIO

A value is a string (text, as the OpenAI embeddings API takes it) or a content part:
  {"type": "text", "text": "..."}                       also "input_text" (Responses API)
  {"type": "image_url", "image_url": {"url": ...}}      also "input_image" (Responses API)
  {"type": "image", "image": <base64 | data: URI | URL | path>}
  {"type": "input_audio", "input_audio": {"data": <base64>, "format": "wav"}}
  {"type": "audio", "audio": <base64 | data: URI | URL | path>}
Images and audio decode through mmserve.media under config.media (URLs and server paths only
where that policy allows them); a Content holds what a model's preprocess takes: a str, an
RGB PIL image, or a base.Waveform at 16 kHz. Every error names the field (`input[3]`).
`image_min_side` lets a large JPEG decode at reduced scale (media.decode_image) when the
model that will take it is known before parsing and resizes its images to that side.

`embed_contents` picks the model (the one named, else the first served model that can embed
every modality present), checks its capabilities (400 naming the models that can),
preprocesses in the calling (request) thread and runs one runner.infer for all items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import singledispatch
from typing import Any, Literal

import numpy as np

from mmserve.batching.pool import ModelPool
from mmserve.errors import ClientError, InvalidRequest, SchemaError, UnsupportedCapability
from mmserve.media import metering
from mmserve.media.formats import clip
from mmserve.media.policy import DEFAULT_POLICY, MediaPolicy
from mmserve.media.sources import load_audio, load_image
from mmserve.models.base import EMBED_AUDIO, EMBED_IMAGE, EMBED_TEXT, Waveform

Modality = Literal["text", "image", "audio"]
CAPABILITY: dict[str, str] = {"text": EMBED_TEXT, "image": EMBED_IMAGE, "audio": EMBED_AUDIO}
MAX_TEXT_CHARS = 100_000  # a text past this is a mistake (MiniLM reads ~1,000 characters)


@dataclass(frozen=True)
class Content:
    """One decoded item: `value` is a str, an RGB PIL image or a Waveform."""

    modality: Modality
    value: Any


@dataclass(frozen=True)
class Embedded:
    model_id: str
    vectors: list[np.ndarray]  # one (dim,) float32 per content, in order
    payloads: list[Any]  # what preprocess made of each
    text_tokens: int  # tokens of the text contents: metered, and a response's usage


def modality_capability(modality: str) -> str:
    return CAPABILITY[modality]


def parse_inputs(
    value: Any, *, config: Any = None, field: str = "input", image_min_side: int | None = None
) -> list[Content]:
    """A request's `input`: one item or a list of them; at most config.limits.max_inputs."""
    if isinstance(value, list) and value and all(_is_token(v) for v in value):
        raise InvalidRequest(
            f"{field}: token arrays are not supported; send the text itself",
            param=field,
            code="unsupported_input",
        )
    items = value if isinstance(value, list) else [value]
    single = not isinstance(value, list)
    if not items:
        raise InvalidRequest(f"{field} must not be an empty list", param=field)
    max_inputs = config.limits.max_inputs if config is not None else None
    if max_inputs is not None and len(items) > max_inputs:
        raise InvalidRequest(
            f"{field} has {len(items)} items; the limit is {max_inputs} (limits.max_inputs). "
            "Split the call.",
            param=field,
            code="too_many_inputs",
        )
    return [
        parse_content(
            item,
            param=field if single else f"{field}[{i}]",
            config=config,
            image_min_side=image_min_side,
        )
        for i, item in enumerate(items)
    ]


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_content(
    value: Any, *, param: str = "input", config: Any = None, image_min_side: int | None = None
) -> Content:
    """One string or content part, decoded; errors name `param`."""
    policy = getattr(config, "media", None) or DEFAULT_POLICY
    return _parse(value, param, policy, image_min_side)


def image_side(pool: ModelPool, model: str | None) -> int | None:
    """The image_min_side of the served model a request names; None (decode at full size)
    when it names none or one not configured: which model takes the images is decided
    later, and so is the error for an unknown one."""
    runner = pool.runners.get(model) if model else None
    return runner.model.image_min_side if runner is not None else None


@singledispatch
def _parse(value: Any, param: str, policy: MediaPolicy, min_side: int | None) -> Content:
    if isinstance(value, list) and all(_is_token(v) for v in value):
        raise InvalidRequest(
            f"{param}: token arrays are not supported; send the text itself",
            param=param,
            code="unsupported_input",
        )
    raise SchemaError(
        f"{param}: expected a string or a content part like "
        f'{{"type": "image_url", "image_url": {{"url": "data:image/png;base64,..."}}}}, '
        f"got {type(value).__name__}",
        param=param,
    )


@_parse.register
def _(value: str, param: str, policy: MediaPolicy, min_side: int | None) -> Content:
    return Content("text", _checked_text(value, param))


@_parse.register(Mapping)
def _(value: Mapping[str, Any], param: str, policy: MediaPolicy, min_side: int | None) -> Content:
    part_type = value.get("type")
    reader = PART_READERS.get(part_type) if isinstance(part_type, str) else None
    if reader is None:
        raise InvalidRequest(
            f"{param}: unknown content part type {clip(str(part_type))}; accepted: "
            f"{', '.join(PART_READERS)}",
            param=param,
            code="invalid_content_part",
        )
    return reader(value, param, policy, min_side)


def _checked_text(text: Any, param: str) -> str:
    if not isinstance(text, str):
        raise SchemaError(f"{param}: text must be a string", param=param)
    if not text.strip():
        raise InvalidRequest(f"{param} must not be empty or whitespace only", param=param)
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidRequest(
            f"{param}: the text has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}",
            param=param,
            code="text_too_long",
        )
    return text


def _text_part(
    part: Mapping[str, Any], param: str, policy: MediaPolicy, min_side: int | None
) -> Content:
    return Content("text", _checked_text(part.get("text"), f"{param}.text"))


def _image_part(
    part: Mapping[str, Any], param: str, policy: MediaPolicy, min_side: int | None
) -> Content:
    return Content("image", load_image(part, policy=policy, field=param, min_side=min_side))


def _bare_image_part(
    part: Mapping[str, Any], param: str, policy: MediaPolicy, min_side: int | None
) -> Content:
    value = _field(part, "image", param)
    return Content("image", load_image(value, policy=policy, field=param, min_side=min_side))


def _audio_part(
    part: Mapping[str, Any], param: str, policy: MediaPolicy, min_side: int | None
) -> Content:
    return Content("audio", Waveform(load_audio(part, policy=policy, field=param)))


def _bare_audio_part(
    part: Mapping[str, Any], param: str, policy: MediaPolicy, min_side: int | None
) -> Content:
    samples = load_audio(_field(part, "audio", param), policy=policy, field=param)
    return Content("audio", Waveform(samples))


def _field(part: Mapping[str, Any], key: str, param: str) -> Any:
    found = part.get(key)
    if not isinstance(found, str):
        raise SchemaError(
            f"{param}: a part of type {key!r} needs {key!r} as a base64 or data: string, "
            "a URL or a server path",
            param=param,
        )
    return found


Reader = Callable[[Mapping[str, Any], str, MediaPolicy, int | None], Content]
PART_READERS: dict[str, Reader] = {
    "text": _text_part,
    "input_text": _text_part,
    "image_url": _image_part,
    "input_image": _image_part,
    "image": _bare_image_part,
    "input_audio": _audio_part,
    "audio": _bare_audio_part,
}


def embed_contents(
    pool: ModelPool,
    contents: Sequence[Content],
    *,
    model: str | None = None,
    timeout_s: float,
    request_id: str | None = None,
    params: Sequence[str] | None = None,
) -> Embedded:
    """One L2-normalised vector per content, from `model` or the default for the modalities
    present. `params` names each content's field for errors (default input[i])."""
    names = list(params) if params is not None else [f"input[{i}]" for i in range(len(contents))]
    needed = list(dict.fromkeys(CAPABILITY[c.modality] for c in contents))
    runner = pool.get(model) if model else _default_runner(pool, needed)
    for content, name in zip(contents, names, strict=True):
        capability = CAPABILITY[content.modality]
        if capability not in runner.model.capabilities:
            able = pool.with_capability(capability)
            raise UnsupportedCapability(
                f"{name}: model {runner.model.id!r} cannot embed {content.modality}; "
                f"models that can: {', '.join(able) or 'none served'}",
                param="model",
            )
    payloads = [
        _preprocess(runner.model, c.value, name) for c, name in zip(contents, names, strict=True)
    ]
    vectors = runner.infer(payloads, timeout_s, request_id)
    count = runner.model.count_tokens
    tokens = sum(count(p) for c, p in zip(contents, payloads, strict=True) if c.modality == "text")
    metering.add("text_tokens", tokens)
    return Embedded(
        runner.model.id, [np.asarray(v, dtype=np.float32) for v in vectors], payloads, tokens
    )


def _default_runner(pool: ModelPool, needed: list[str]) -> Any:
    if len(needed) == 1:
        return pool.default_for(needed[0])
    able = [set(pool.with_capability(c)) for c in needed]
    both = [m for m in pool.with_capability(needed[0]) if all(m in a for a in able)]
    if not both:
        wanted = " and ".join(c.replace("embed_", "") for c in needed)
        raise UnsupportedCapability(
            f"no served model embeds {wanted} together; serve one that does (e.g. 'bridge')",
            param="model",
        )
    return pool.get(both[0])


def _preprocess(model: Any, value: Any, param: str) -> Any:
    try:
        return model.preprocess(value)
    except ClientError as e:
        e.param = param
        raise

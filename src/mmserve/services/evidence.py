"""Evidence about a conversation's media and a collection, from the served default models.

    gather(pool, conversation, targets, *, collection, store, timeout_s, request_id)
        -> Evidence

What each attachment yields (each kind only if a model with that capability is served):
    image  ImageNet labels (classify_image), OCR lines (ocr), zero-shot scores of the
           question's targets against "a photo of something else" (a model that embeds
           images and text together: bridge, an hf: CLIP)
    audio  AudioSet tags with the seconds they are strongest (classify_audio), transcript
           segments with their times (transcribe)
    collection  the top items for the question, embedded with the collection's model
Every fact is a dict with an `id` ("E3") the answer cites, a `source` ("image 1", "audio 1",
"collection photos") and a `kind`; `missing` says which kinds no served model could give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmserve.batching.pool import ModelPool
from mmserve.batching.runner import ModelRunner
from mmserve.errors import ClientError, UnsupportedCapability
from mmserve.models.base import (
    CLASSIFY_AUDIO,
    CLASSIFY_IMAGE,
    EMBED_TEXT,
    OCR,
    TRANSCRIBE,
    Waveform,
)
from mmserve.services.chat_messages import Attachment, Conversation
from mmserve.services.content import Content, embed_contents
from mmserve.services.transcripts import speech_windows, transcribe_windows

TOP_LABELS = 3  # ImageNet labels kept per image
MIN_LABEL_SCORE = 0.05  # labels below this are noise, not evidence
TOP_SOUNDS = 3  # AudioSet tags kept per clip
MIN_SOUND_SCORE = 0.1  # clip-level (mean over frames) score below which a tag is dropped
MIN_OCR_CONFIDENCE = 0.5  # lines read less surely than this are left out
TOP_ITEMS = 3  # collection items retrieved for a question
# Softmax temperature over cosines, /v1/classifications' own: with bridge a clear lead is a
# cosine gap of 0.2-0.5, which 0.05 turns into odds of e^4 and beyond; a close call stays near 0.5.
ZERO_SHOT_TEMPERATURE = 0.05
BACKGROUND_PROMPT = "a photo of something else"


@dataclass
class Evidence:
    facts: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def add(self, fact: dict[str, Any]) -> dict[str, Any]:
        fact = {"id": f"E{len(self.facts) + 1}", **fact}
        self.facts.append(fact)
        return fact

    def of(self, kind: str, source: str | None = None) -> list[dict[str, Any]]:
        return [
            f for f in self.facts if f["kind"] == kind and (source is None or f["source"] == source)
        ]

    def note_missing(self, what: str) -> None:
        if what not in self.missing:
            self.missing.append(what)


@dataclass(frozen=True)
class Ask:
    """How to call the models: the pool, the deadline of each call, the request id."""

    pool: ModelPool
    timeout_s: float
    request_id: str | None = None

    def runner(self, capability: str) -> ModelRunner | None:
        able = self.pool.with_capability(capability)
        return self.pool.runners[able[0]] if able else None

    def run(self, runner: ModelRunner, value: Any, param: str) -> Any:
        try:
            payload = runner.model.preprocess(value)
        except ClientError as e:
            e.param = param
            raise
        return runner.infer([payload], self.timeout_s, self.request_id)[0]


def gather(
    ask: Ask,
    conversation: Conversation,
    targets: list[str],
    *,
    collection: str | None = None,
    store: Any = None,
    filter: dict[str, Any] | None = None,
) -> Evidence:
    evidence = Evidence()
    for image in conversation.attachments("image"):
        image_evidence(ask, image, targets, evidence)
    for clip in conversation.attachments("audio"):
        audio_evidence(ask, clip, evidence)
    if collection:
        collection_evidence(ask, store, collection, conversation.question, filter, evidence)
    return evidence


def image_evidence(ask: Ask, image: Attachment, targets: list[str], evidence: Evidence) -> None:
    classifier = ask.runner(CLASSIFY_IMAGE)
    if classifier is None:
        evidence.note_missing("image labels (no classify_image model served)")
    else:
        probs = ask.run(classifier, image.value, image.param)
        names = classifier.model.class_names
        for i in np.argsort(-probs)[:TOP_LABELS]:
            if probs[i] >= MIN_LABEL_SCORE:
                evidence.add(_fact(image, "label", names[i], probs[i], classifier))
    reader = ask.runner(OCR)
    if reader is None:
        evidence.note_missing("text in images (no ocr model served)")
    else:
        lines = [
            line
            for line in ask.run(reader, image.value, image.param)
            if line["confidence"] >= MIN_OCR_CONFIDENCE and line["text"].strip()
        ]
        for number, line in enumerate(lines, start=1):
            fact = _fact(image, "text", line["text"].strip(), line["confidence"], reader)
            evidence.add({**fact, "line": number})
    if targets:
        zero_shot(ask, image, targets, evidence)


def zero_shot(ask: Ask, image: Attachment, targets: list[str], evidence: Evidence) -> None:
    """P(target) against a background prompt, one softmax per target, like CLIP's zero-shot
    classification with two classes: 'a photo of a dog' vs 'a photo of something else'."""
    prompts = [f"a photo of {_article(t)}" for t in targets] + [BACKGROUND_PROMPT]
    contents = [Content("image", image.value)] + [Content("text", p) for p in prompts]
    try:
        embedded = embed_contents(
            ask.pool,
            contents,
            timeout_s=ask.timeout_s,
            request_id=ask.request_id,
            params=[image.param] + ["question"] * len(prompts),
        )
    except UnsupportedCapability:
        evidence.note_missing("zero-shot scores (no model embeds images and text together)")
        return
    vectors = np.stack(embedded.vectors)  # (1 + targets + 1, dim), L2-normalised
    cosines = vectors[1:] @ vectors[0]
    background = cosines[-1]
    for target, cosine in zip(targets, cosines[:-1], strict=True):
        logits = np.array([cosine, background]) / ZERO_SHOT_TEMPERATURE
        p = float(np.exp(logits[0] - np.logaddexp(logits[0], logits[1])))
        fact = {
            "source": image.name,
            "kind": "zero_shot",
            "text": target,
            "score": round(p, 4),
            "cosine": round(float(cosine), 4),
            "model": embedded.model_id,
        }
        evidence.add(fact)


def audio_evidence(ask: Ask, clip: Attachment, evidence: Evidence) -> None:
    wave: Waveform = clip.value
    tagger = ask.runner(CLASSIFY_AUDIO)
    if tagger is None:
        evidence.note_missing("sound tags (no classify_audio model served)")
    else:
        probs = ask.run(tagger, wave, clip.param)  # (frames, classes)
        pooled = probs.mean(axis=0)
        step = float(tagger.model.frame_seconds)
        for i in np.argsort(-pooled)[:TOP_SOUNDS]:
            if pooled[i] >= MIN_SOUND_SCORE:
                peak = int(np.argmax(probs[:, i]))
                fact = _fact(clip, "sound", tagger.model.class_names[i], pooled[i], tagger)
                evidence.add({**fact, "peak_second": round(peak * step, 2)})
    transcriber = ask.runner(TRANSCRIBE)
    if transcriber is None:
        evidence.note_missing("speech (no transcribe model served)")
        return
    windows = speech_windows([wave.samples], wave.sample_rate)
    for part in transcribe_windows(transcriber, windows, {}, ask.timeout_s, ask.request_id):
        for segment in part.segments:
            if segment["text"].strip():
                evidence.add(
                    {
                        "source": clip.name,
                        "kind": "speech",
                        "text": segment["text"].strip(),
                        "start": round(float(segment["start"]), 2),
                        "end": round(float(segment["end"]), 2),
                        "model": transcriber.model.id,
                    }
                )


def collection_evidence(
    ask: Ask,
    store: Any,
    name: str,
    question: str,
    filter: dict[str, Any] | None,
    evidence: Evidence,
) -> None:
    found = store.rows.find(name)  # 404 naming the collection if it does not exist
    runner = ask.pool.get(found.model, EMBED_TEXT)
    vector = embed_contents(
        ask.pool,
        [Content("text", question)],
        model=runner.model.id,
        timeout_s=ask.timeout_s,
        request_id=ask.request_id,
        params=["messages"],
    ).vectors[0]
    for hit in store.search(name, vector, top_k=TOP_ITEMS, filter=filter):
        evidence.add(
            {
                "source": f"collection {name}",
                "kind": "item",
                "item_id": hit.id,
                "text": _describe_item(hit.metadata) or hit.id,
                "score": round(float(hit.score), 4),
                "modality": hit.modality,
                "metadata": hit.metadata,
            }
        )


def _describe_item(metadata: dict[str, Any]) -> str:
    for key in ("title", "caption", "text", "name", "description"):
        if isinstance(metadata.get(key), str):
            return str(metadata[key])
    return ""


def _fact(
    attachment: Attachment, kind: str, text: str, score: Any, runner: ModelRunner
) -> dict[str, Any]:
    return {
        "source": attachment.name,
        "kind": kind,
        "text": text,
        "score": round(float(score), 4),
        "model": runner.model.id,
    }


def _article(noun: str) -> str:
    if noun.split()[0].lower() in ("a", "an", "the", "some"):
        return noun
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun

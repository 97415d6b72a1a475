"""The `grounded` chat model: answers built only from evidence, citing it.

    targets(question) -> the things a yes/no or "which item" question asks about
    answer(question, evidence, has) -> the reply text

The question is matched against a handful of intents, tried in order: is there an X (yes/no
with the zero-shot score), which item matches X (collection), what does the text say (OCR),
what is said and when (transcript), what sound is this (audio tags), what is in the picture
(labels and text). A question no intent covers gets the evidence summarised with a sentence
saying that it does not answer the question directly; a conversation without media or a
collection gets a reply saying there is nothing to answer from. Every fact used is cited
by its evidence id, e.g. [E2], and its place (image 1 line 2, audio 1 at 3.1-4.0 s).
"""

from __future__ import annotations

import re
from typing import Any

from mmserve.services.evidence import Evidence

YES_THRESHOLD = 0.5  # zero-shot P(target vs "something else") above which the answer is yes
ARTICLES = r"(?:a |an |any |some |the )?"
PLACE = r"(?:\s+(?:in|on|at)\s+(?:the|this|these|that)\s+\w+)?"  # "in the picture"
TARGET_PATTERNS = [
    re.compile(rf"\b(?:is|are) there {ARTICLES}(.+?){PLACE}\s*[?.!]*$", re.I),
    re.compile(
        rf"\b(?:does|do|did) (?:it|this|they|the \w+) (?:show|contain|have|include|depict) "
        rf"{ARTICLES}(.+?){PLACE}\s*[?.!]*$",
        re.I,
    ),
    re.compile(rf"\bdo you see {ARTICLES}(.+?){PLACE}\s*[?.!]*$", re.I),
    re.compile(
        rf"\bwhich (?:\w+ )?(?:item|one|photo|image|picture|document|clip|entry)s? "
        rf"(?:\w+ )*?(?:shows?|matches|match|contains?|has|have|is about|are about|about|of|"
        rf"with|mentions?) {ARTICLES}(.+?)\s*[?.!]*$",
        re.I,
    ),
]
YES_NO = re.compile(r"^\s*(?:is|are|does|do|did) |\bdo you see\b", re.I)
WHICH_ITEM = re.compile(r"\bwhich\b|\bfind\b|\bmatch", re.I)
TEXT_WORDS = re.compile(
    r"\b(text|sign|written|writing|write|read|reads|label|says?|words?)\b", re.I
)
SPEECH_WORDS = re.compile(
    r"\b(said|say|says|spoken|speak|speaks|speaking|talk\w*|transcri\w*|words?|when)\b", re.I
)
SOUND_WORDS = re.compile(r"\b(sound|sounds|noise|hear|heard|hearing|listen\w*)\b", re.I)
SCENE_WORDS = re.compile(
    r"\b(picture|image|photo|see|show|shown|describe|depict\w*|what is this|what's this)\b",
    re.I,
)


def targets(question: str) -> list[str]:
    for pattern in TARGET_PATTERNS:
        found = pattern.search(question.strip())
        if found:
            return [found.group(1).strip(" ,.")]
    return []


def answer(question: str, evidence: Evidence, has: dict[str, int], collection: str | None) -> str:
    """`has`: how many images and clips the conversation carries ({"image": 1, "audio": 0})."""
    if not any(has.values()) and not collection:
        return (
            "I answer only from attached images, audio or a named collection, and this "
            "conversation has none, so I cannot answer. Attach an image_url or input_audio "
            'part, or name a collection (extra_body={"collection": "..."}).'
        )
    asks_speech = has["audio"] and SPEECH_WORDS.search(question)
    for applies, compose in (
        (YES_NO.search(question) and has["image"] and targets(question), _yes_no),
        (collection and WHICH_ITEM.search(question), _which_item),
        (has["image"] and TEXT_WORDS.search(question) and not asks_speech, _text),
        (asks_speech, _speech),
        (has["audio"] and SOUND_WORDS.search(question), _sounds),
        (has["image"] and SCENE_WORDS.search(question), _scene),
    ):
        if applies:
            return compose(question, evidence)
    return _summary(evidence)


def _yes_no(question: str, evidence: Evidence) -> str:
    target = targets(question)[0]
    scores = evidence.of("zero_shot")
    words = set(target.lower().split())
    mentions = [
        f
        for f in evidence.of("label") + evidence.of("text")
        if words & set(re.findall(r"\w+", f["text"].lower()))
    ]
    if not scores and not mentions:
        return (
            f"The evidence cannot tell whether there is {target}: no served model scores "
            f"images against a text, and no label or text found mentions it.{_missing(evidence)}"
        )
    sentences = []
    for fact in scores:
        verdict = "Yes" if fact["score"] >= YES_THRESHOLD else "No"
        likely = "likely shows" if verdict == "Yes" else "likely does not show"
        sentences.append(
            f"{verdict}: {fact['source']} {likely} {_article(target)} (zero-shot score "
            f"{fact['score']:.2f} against 'something else' by {fact['model']}) [{fact['id']}]."
        )
    for fact in mentions:
        what = "is labelled" if fact["kind"] == "label" else "has the text"
        sentences.append(
            f"{fact['source'].capitalize()} {what} '{fact['text']}'{_where(fact)} [{fact['id']}]."
        )
    if not scores:
        sentences.insert(0, f"Yes, {target} is mentioned in the evidence.")
    return " ".join(sentences)


def _which_item(question: str, evidence: Evidence) -> str:
    items = evidence.of("item")
    if not items:
        return (
            "The collection gave no item to rank (it may be empty, or the filter excludes "
            "every item)."
        )
    best, rest = items[0], items[1:]
    reply = (
        f"The best match in {best['source']} is item '{best['item_id']}' "
        f"({_item_label(best)}, similarity {best['score']:.2f}) [{best['id']}]."
    )
    if rest:
        others = "; ".join(
            f"'{f['item_id']}' ({_item_label(f)}, {f['score']:.2f}) [{f['id']}]" for f in rest
        )
        reply += f" Next: {others}."
    return reply + " Similarity ranks the items; it does not prove that one matches."


def _text(question: str, evidence: Evidence) -> str:
    lines = evidence.of("text")
    if not lines:
        return f"I found no legible text in the images.{_missing(evidence)}"
    by_source: dict[str, list[dict[str, Any]]] = {}
    for fact in lines:
        by_source.setdefault(fact["source"], []).append(fact)
    parts = []
    for source, facts in by_source.items():
        quoted = ", ".join(f'"{f["text"]}" (line {f["line"]}) [{f["id"]}]' for f in facts)
        parts.append(f"{source.capitalize()} reads: {quoted}.")
    return " ".join(parts)


def _speech(question: str, evidence: Evidence) -> str:
    segments = evidence.of("speech")
    if not segments:
        return f"I heard no speech in the audio.{_missing(evidence)}"
    reply = []
    if re.search(r"\bwhen\b", question, re.I):
        found = _best_segment(question, segments)
        if found is not None:
            reply.append(
                f'"{found["text"]}" is said in {found["source"]} from {found["start"]:.1f} s '
                f"to {found['end']:.1f} s [{found['id']}]."
            )
    said = " ".join(
        f'"{f["text"]}" ({f["start"]:.1f}-{f["end"]:.1f} s) [{f["id"]}]' for f in segments
    )
    reply.append(f"{segments[0]['source'].capitalize()} says: {said}.")
    return " ".join(reply)


def _sounds(question: str, evidence: Evidence) -> str:
    tags = evidence.of("sound")
    if not tags:
        return f"No sound class scored high enough to name.{_missing(evidence)}"
    named = ", ".join(
        f"{f['text']} (score {f['score']:.2f}, strongest at {f['peak_second']:.1f} s) [{f['id']}]"
        for f in tags
    )
    return f"{tags[0]['source'].capitalize()} sounds like: {named}."


def _scene(question: str, evidence: Evidence) -> str:
    labels, lines = evidence.of("label"), evidence.of("text")
    if not labels and not lines:
        return (
            "No ImageNet class scored high enough to name what the picture shows, and no text "
            f"was read in it.{_missing(evidence)}"
        )
    parts = []
    if labels:
        named = ", ".join(f"{f['text']} ({f['score']:.2f}) [{f['id']}]" for f in labels)
        parts.append(f"{labels[0]['source'].capitalize()} most likely shows: {named}.")
    if lines:
        parts.append(_text(question, evidence))
    parts.append("These are ImageNet classes, so people and scenes are not named.")
    return " ".join(parts)


def _summary(evidence: Evidence) -> str:
    if not evidence.facts:
        return f"The evidence does not answer this question: nothing was found.{_missing(evidence)}"
    found = "; ".join(
        f"{f['source']}: {f['kind']} '{_short(f)}' [{f['id']}]" for f in evidence.facts
    )
    return f"The evidence does not answer this question directly. What was found: {found}."


def _best_segment(question: str, segments: list[dict[str, Any]]) -> dict[str, Any] | None:
    asked = set(re.findall(r"\w{3,}", question.lower())) - {"when", "does", "say", "said", "the"}
    scored = [(len(asked & set(re.findall(r"\w{3,}", f["text"].lower()))), f) for f in segments]
    best = max(scored, key=lambda pair: pair[0])
    return best[1] if best[0] else None


def _article(noun: str) -> str:
    if noun.split()[0].lower() in ("a", "an", "the", "some", "any"):
        return noun
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _where(fact: dict[str, Any]) -> str:
    return f" (line {fact['line']})" if "line" in fact else ""


def _item_label(fact: dict[str, Any]) -> str:
    return fact["text"] if fact["text"] != fact["item_id"] else fact["modality"]


def _short(fact: dict[str, Any]) -> str:
    text = fact.get("text", "")
    return text if len(text) <= 60 else text[:59] + "…"


def _missing(evidence: Evidence) -> str:
    return f" Not available here: {'; '.join(evidence.missing)}." if evidence.missing else ""

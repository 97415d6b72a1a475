"""The Flask-free parts of chat: question targets, composed answers, the reply's cuts."""

from __future__ import annotations

import pytest

from mmserve.services.chat import Reply, _words, evidence_text
from mmserve.services.evidence import Evidence
from mmserve.services.grounded import answer, targets


@pytest.mark.parametrize(
    ("question", "found"),
    [
        ("Is there a dog in the picture?", ["dog"]),
        ("Are there any red cars?", ["red cars"]),
        ("Does it show a street sign?", ["street sign"]),
        ("Which item is about a sunny beach?", ["sunny beach"]),
        ("What does the sign say?", []),
    ],
)
def test_targets(question, found):
    assert targets(question) == found


def evidence(*facts):
    found = Evidence()
    for fact in facts:
        found.add(fact)
    return found


def test_yes_no_follows_the_zero_shot_threshold():
    facts = evidence(
        {"source": "image 1", "kind": "zero_shot", "text": "dog", "score": 0.49, "model": "bridge"}
    )
    reply = answer("Is there a dog?", facts, {"image": 1, "audio": 0}, None)
    assert reply.startswith("No: image 1 likely does not show a dog (zero-shot score 0.49")
    assert reply.endswith("[E1].")


def test_missing_models_are_said():
    found = Evidence()
    found.note_missing("text in images (no ocr model served)")
    reply = answer("What does the sign say?", found, {"image": 1, "audio": 0}, None)
    assert reply == (
        "I found no legible text in the images. Not available here: text in images "
        "(no ocr model served)."
    )


def test_evidence_text_gives_ids_places_and_scores():
    facts = evidence(
        {"source": "audio 1", "kind": "speech", "text": "hello", "start": 0.0, "end": 1.5},
        {"source": "image 1", "kind": "text", "text": "STOP", "line": 1, "score": 0.9},
    )
    assert evidence_text(facts) == (
        "[E1] audio 1 0.0-1.5 s speech: hello\n[E2] image 1 line 1 text: STOP score=0.9"
    )


def reply_of(text, max_tokens=None, stop=()):
    return Reply("grounded", Evidence(), 0, _words(text), max_tokens, stop)


def test_words_rejoin_to_the_text():
    text = 'Image 1 reads:  "STOP" (line 1) [E3].'
    assert "".join(_words(text)) == text


@pytest.mark.parametrize(
    ("max_tokens", "stop", "text", "reason"),
    [
        (None, (), "one two three four", "stop"),
        (2, (), "one two", "length"),
        (None, ("thr",), "one two ", "stop"),
        (3, ("four",), "one two three ", "stop"),
    ],
)
def test_reply_cuts_at_stop_or_max_tokens(max_tokens, stop, text, reason):
    reply = reply_of("one two three four", max_tokens, stop)
    assert "".join(reply.pieces()) == text == reply.text
    assert reply.finish_reason == reason and reply.completion_tokens == len(text.split())

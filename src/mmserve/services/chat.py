"""Chat completions, Flask-free: a checked Conversation in, a streamed Reply out.

    reply(ask, conversation, options, *, store) -> Reply

`grounded` (always served) answers from the evidence itself (services.grounded). Any served
model with the `chat` capability (an upstream OpenAI-compatible LLM, an hf: vision-language
checkpoint) gets the conversation with the evidence as a system message, and the images
themselves, and writes the reply. Token counts in `usage` are whitespace-separated words for
`grounded` (it has no tokenizer) and for models that do not report their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mmserve.errors import NotFound
from mmserve.models.base import CHAT, ChatPrompt
from mmserve.services import grounded
from mmserve.services.chat_messages import Conversation
from mmserve.services.evidence import Ask, Evidence, gather

GROUNDED = "grounded"


@dataclass(frozen=True)
class ChatOptions:
    model: str = GROUNDED
    max_tokens: int | None = None
    temperature: float = 1.0
    stop: tuple[str, ...] = ()
    collection: str | None = None
    filter: dict[str, Any] | None = None


@dataclass
class Reply:
    """The reply as it is generated: iterate `pieces` once; then `finish_reason` and
    `completion_tokens` are known."""

    model: str
    evidence: Evidence
    prompt_tokens: int
    source: Iterator[str]
    max_tokens: int | None
    stop: tuple[str, ...]
    finish_reason: str = "stop"
    completion_tokens: int = 0
    _text: list[str] = field(default_factory=list)

    def pieces(self) -> Iterator[str]:
        """The source's pieces, cut at the first stop sequence or after max_tokens words."""
        sent = ""
        for piece in self.source:
            text = sent + piece
            cut = _first_stop(text, self.stop)
            if cut is not None:
                yield from self._emit(text[len(sent) : cut])
                return
            words = len(text.split())
            if self.max_tokens is not None and words > self.max_tokens:
                kept = _first_words(text, self.max_tokens)
                yield from self._emit(kept[len(sent) :])
                self.finish_reason = "length"
                return
            sent = text
            yield from self._emit(piece)

    def _emit(self, piece: str) -> Iterator[str]:
        if piece:
            self._text.append(piece)
            self.completion_tokens = len("".join(self._text).split())
            yield piece

    @property
    def text(self) -> str:
        return "".join(self._text)


def served_chat_models(ask: Ask) -> list[str]:
    return [GROUNDED, *ask.pool.with_capability(CHAT)]


def reply(ask: Ask, conversation: Conversation, options: ChatOptions, *, store: Any) -> Reply:
    if options.model != GROUNDED:
        if options.model not in ask.pool.runners:
            raise NotFound(
                f"model {options.model!r} is not served here; chat models: "
                f"{', '.join(served_chat_models(ask))}",
                param="model",
                code="model_not_found",
            )
        runner = ask.pool.get(options.model, CHAT)  # 400 naming the chat models
    question = conversation.question
    targets = grounded.targets(question)
    evidence = gather(
        ask,
        conversation,
        targets,
        collection=options.collection,
        store=store,
        filter=options.filter,
    )
    prompt_tokens = sum(len(t.text.split()) for t in conversation.turns)
    if options.model == GROUNDED:
        has = {kind: len(conversation.attachments(kind)) for kind in ("image", "audio")}
        text = grounded.answer(question, evidence, has, options.collection)
        source = _words(text)
    else:
        prompt = _prompt(conversation, evidence, options)
        prompt_tokens = sum(len(m["content"].split()) for m in prompt.messages)
        source = runner.model.generate(prompt)  # type: ignore[attr-defined]
    return Reply(options.model, evidence, prompt_tokens, source, options.max_tokens, options.stop)


def evidence_text(evidence: Evidence) -> str:
    """The evidence as lines a text-only model can read and cite."""
    lines = []
    for fact in evidence.facts:
        where = _place(fact)
        score = f" score={fact['score']}" if "score" in fact else ""
        lines.append(
            f"[{fact['id']}] {fact['source']}{where} {fact['kind']}: {fact['text']}{score}"
        )
    for what in evidence.missing:
        lines.append(f"(not available: {what})")
    return "\n".join(lines)


EVIDENCE_INSTRUCTIONS = (
    "You cannot see or hear the attachments yourself. Models extracted the evidence below "
    "from them (ImageNet labels, OCR lines, sound tags, transcript segments with seconds, "
    "zero-shot scores, collection items). Answer only from it, cite evidence ids like [E2], "
    "and say so when the evidence does not answer the question.\n\nEvidence:\n"
)


def _prompt(conversation: Conversation, evidence: Evidence, options: ChatOptions) -> ChatPrompt:
    messages = []
    if evidence.facts or evidence.missing:
        messages.append(
            {"role": "system", "content": EVIDENCE_INSTRUCTIONS + evidence_text(evidence)}
        )
    for turn in conversation.turns:
        names = ", ".join(f"[{a.name} attached]" for a in turn.attachments)
        content = f"{names}\n{turn.text}".strip() if names else turn.text
        role = "system" if turn.role == "developer" else turn.role
        messages.append({"role": role, "content": content})
    images = [a.value for a in conversation.attachments("image")]
    return ChatPrompt(
        messages=messages,
        images=images,
        max_tokens=options.max_tokens or 256,
        temperature=options.temperature,
        stop=options.stop,
    )


def _words(text: str) -> Iterator[str]:
    """A composed answer streamed word by word, spaces kept, as an LLM streams tokens."""
    start = 0
    for index, char in enumerate(text):
        if char == " " and index > start:
            yield text[start:index]
            start = index
    if start < len(text):
        yield text[start:]


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [text.find(s) for s in stops if s and s in text]
    return min(found) if found else None


def _first_words(text: str, count: int) -> str:
    """The prefix of `text` holding its first `count` whitespace-separated words."""
    seen, inside = 0, False
    for index, char in enumerate(text):
        if not char.isspace() and not inside:
            seen += 1
            if seen > count:
                return text[:index].rstrip()
        inside = not char.isspace()
    return text


def _place(fact: dict[str, Any]) -> str:
    if "line" in fact:
        return f" line {fact['line']}"
    if "start" in fact:
        return f" {fact['start']}-{fact['end']} s"
    if "item_id" in fact:
        return f" item {fact['item_id']}"
    return ""

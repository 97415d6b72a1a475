"""An OpenAI `messages` list, checked and decoded into a Conversation.

    parse_messages(messages, *, config) -> Conversation   (limits.max_images, [media])

Roles: system, developer (OpenAI's newer name for system), user, assistant. Content is a
string or a list of parts: text, image_url (data: URIs; URLs and server paths where the
[media] policy allows them), input_audio. Images and clips decode through
services.content.parse_content, so they meet the same [media] limits as every other route.
Tool calls and tool messages are refused: no chat model here calls tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mmserve.config import Config
from mmserve.errors import InvalidRequest, PayloadTooLarge, SchemaError
from mmserve.models.base import Waveform
from mmserve.services.content import parse_content

ROLES = ("system", "developer", "user", "assistant")
TOOL_FIELDS = ("tool_calls", "function_call")


@dataclass(frozen=True)
class Attachment:
    """One image or clip of the conversation; `index` counts from 1 per kind, in order."""

    kind: str  # "image" or "audio"
    index: int
    value: Any  # RGB PIL image or Waveform
    param: str  # where it came from: messages[2].content[1]

    @property
    def name(self) -> str:
        return f"{self.kind} {self.index}"


@dataclass
class Turn:
    role: str
    text: str
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class Conversation:
    turns: list[Turn]

    @property
    def question(self) -> str:
        """The text of the last user turn: what the reply must answer."""
        users = [t for t in self.turns if t.role == "user"]
        return users[-1].text if users else ""

    def attachments(self, kind: str) -> list[Attachment]:
        return [a for t in self.turns for a in t.attachments if a.kind == kind]


def parse_messages(messages: Any, *, config: Config) -> Conversation:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "messages must be a non-empty list of {role, content}", param="messages"
        )
    counts = {"image": 0, "audio": 0}
    turns = []
    for i, message in enumerate(messages):
        turns.append(_turn(message, f"messages[{i}]", config, counts))
    if not any(t.role == "user" for t in turns):
        raise InvalidRequest("messages need at least one user message", param="messages")
    return Conversation(turns)


def _turn(
    message: Any,
    param: str,
    config: Config,
    counts: dict[str, int],
) -> Turn:
    if not isinstance(message, Mapping):
        raise SchemaError(f"{param}: a message is an object {{role, content}}", param=param)
    role = message.get("role")
    if role == "tool" or any(message.get(key) for key in TOOL_FIELDS):
        raise InvalidRequest(
            f"{param}: tool calls are not supported; no chat model here calls tools",
            param=param,
            code="tools_not_supported",
        )
    if role not in ROLES:
        raise InvalidRequest(
            f"{param}.role: unknown role {role!r}; accepted: {', '.join(ROLES)}",
            param=f"{param}.role",
        )
    content = message.get("content")
    if isinstance(content, str):
        return Turn(role, content)
    if content is None and role == "assistant":
        return Turn(role, "")
    if not isinstance(content, list) or not content:
        raise SchemaError(
            f"{param}.content: a string or a non-empty list of content parts",
            param=f"{param}.content",
        )
    texts, attachments = [], []
    for j, part in enumerate(content):
        where = f"{param}.content[{j}]"
        found = parse_content(part, param=where, config=config)
        if found.modality == "text":
            texts.append(found.value)
            continue
        if role != "user":
            raise InvalidRequest(f"{where}: only user messages may carry media", param=where)
        counts[found.modality] += 1
        max_images = config.limits.max_images
        if found.modality == "image" and counts["image"] > max_images:
            raise PayloadTooLarge(
                f"{where}: more than {max_images} images in one request (limits.max_images)",
                param=where,
                code="too_many_images",
            )
        value = found.value if found.modality == "image" else _waveform(found.value)
        attachments.append(Attachment(found.modality, counts[found.modality], value, where))
    return Turn(role, "\n".join(texts), attachments)


def _waveform(value: Any) -> Waveform:
    return value if isinstance(value, Waveform) else Waveform(value)

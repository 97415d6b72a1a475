"""An OpenAI `messages` list, checked and decoded into a Conversation.

    parse_messages(messages, *, policy, max_images) -> Conversation

Roles: system, developer (OpenAI's newer name for system), user, assistant. Content is a
string or a list of parts: text, image_url (data: URIs; URLs and server paths where the
[media] policy allows them), input_audio. Images and clips decode through
api.content's part readers, so they meet the same [media] limits as every other route.
Tool calls and tool messages are refused: no chat model here calls tools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mmserve.errors import InvalidRequest, PayloadTooLarge, SchemaError
from mmserve.media.policy import MediaPolicy
from mmserve.models.base import Waveform

ROLES = ("system", "developer", "user", "assistant")
TOOL_FIELDS = ("tool_calls", "function_call")

# (part, param, policy) -> ("text"|"image"|"audio", value); api.content.parse_content fits.
PartReader = Callable[[Mapping[str, Any], str, MediaPolicy], Any]


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


def parse_messages(
    messages: Any, *, policy: MediaPolicy, max_images: int, read_part: PartReader
) -> Conversation:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "messages must be a non-empty list of {role, content}", param="messages"
        )
    counts = {"image": 0, "audio": 0}
    turns = []
    for i, message in enumerate(messages):
        turns.append(_turn(message, f"messages[{i}]", policy, read_part, counts, max_images))
    if not any(t.role == "user" for t in turns):
        raise InvalidRequest("messages need at least one user message", param="messages")
    return Conversation(turns)


def _turn(
    message: Any,
    param: str,
    policy: MediaPolicy,
    read_part: PartReader,
    counts: dict[str, int],
    max_images: int,
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
        found = read_part(part, where, policy)
        if found.modality == "text":
            texts.append(found.value)
            continue
        if role != "user":
            raise InvalidRequest(f"{where}: only user messages may carry media", param=where)
        counts[found.modality] += 1
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

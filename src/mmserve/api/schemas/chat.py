"""Request and response schemas of POST /v1/chat/completions (OpenAI's shapes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_REPLY_TOKENS = 4096


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = Field(
        False, description="Send a last chunk with `usage` and empty `choices`"
    )


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Any] = Field(
        description="OpenAI messages: {role: system|developer|user|assistant, content}. "
        "content is a string or a list of parts: {type: text, text}, {type: image_url, "
        "image_url: {url: data:...}} (URLs and server paths where [media] allows them), "
        "{type: input_audio, input_audio: {data: <base64>, format: wav|mp3|...}}"
    )
    model: str = Field(
        "grounded",
        description="'grounded' (always served: answers from evidence the served models "
        "extract, citing it), or a served model with the chat capability (GET /v1/models)",
    )
    max_tokens: int | None = Field(None, ge=1, le=MAX_REPLY_TOKENS)
    max_completion_tokens: int | None = Field(
        None, ge=1, le=MAX_REPLY_TOKENS, description="OpenAI's newer name for max_tokens"
    )
    temperature: float = Field(1.0, ge=0, le=2, description="Ignored by 'grounded'")
    top_p: float | None = Field(None, gt=0, le=1, description="Accepted; ignored")
    stop: str | list[str] | None = Field(None, description="Up to 4 stop sequences")
    n: int = Field(1, ge=1, le=1, description="Only 1 choice is generated")
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = Field(None, description="Accepted; ignored")
    user: str | None = Field(None, description="Accepted; ignored")
    collection: str | None = Field(
        None,
        description="mmserve extension (openai client: extra_body): a collection whose top "
        "items for the question join the evidence",
    )
    filter: dict[str, Any] | None = Field(
        None, description="mmserve extension: a metadata filter for the collection's items"
    )
    tools: list[Any] | None = Field(None, description="Not supported: 400 if non-empty")
    tool_choice: Any = Field(None, description="Not supported")


class ChatMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class Choice(BaseModel):
    index: int
    message: ChatMessage
    finish_reason: Literal["stop", "length"]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Fact(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(description="Cited in the answer as [E1]")
    source: str = Field(description="'image 1', 'audio 2' or 'collection <name>'")
    kind: Literal["label", "text", "zero_shot", "sound", "speech", "item"]
    text: str = Field(description="The label, OCR line, sound tag, transcript or item")
    score: float | None = None


class EvidenceBody(BaseModel):
    facts: list[Fact]
    missing: list[str] = Field(description="Evidence no served model could give")


class ChatResponse(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    evidence: EvidenceBody = Field(
        description="mmserve extension: what the answer was built from (every model)"
    )

"""POST /v1/chat/completions: questions about images, audio and collections (OpenAI shape).

Parse and check the request here, hand a Conversation to services.chat, and encode its Reply
as one JSON body or as Server-Sent Events of `chat.completion.chunk`s (stream=true), with a
last usage chunk when stream_options.include_usage is set. The evidence travels in the
`evidence` field (of the first chunk when streaming).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify, stream_with_context

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas.chat import ChatRequest, ChatResponse
from mmserve.api.security import check_collection_read
from mmserve.errors import InvalidRequest, MMServeError, error_body
from mmserve.services.chat import ChatOptions, Reply, reply
from mmserve.services.chat_messages import parse_messages
from mmserve.services.evidence import Ask

bp = Blueprint("chat", __name__)
log = logging.getLogger("mmserve.chat")
MAX_STOPS = 4  # OpenAI's limit


@bp.post("/v1/chat/completions")
@operation(
    "Ask about images, audio and a collection (OpenAI chat completions)",
    tags=["chat"],
    request=ChatRequest,
    response=ChatResponse,
    errors=(400, 404, 413, 422, 429, 500, 502, 503, 504),
)
def chat_completions() -> Any:
    """`grounded` answers from evidence the served models extract (labels, OCR lines, sound
    tags, transcript segments, zero-shot scores, collection items) and cites it; chat models
    get the same evidence as a system message. stream=true answers with SSE chunks."""
    body = parse_body(ChatRequest)
    svc = services()
    if body.tools:
        raise InvalidRequest(
            "tools: tool calls are not supported; no chat model here calls tools",
            param="tools",
            code="tools_not_supported",
        )
    if body.collection is not None:
        check_collection_read(body.collection, "collection")
    conversation = parse_messages(body.messages, config=svc.config)
    ask = Ask(svc.pool, svc.config.limits.request_timeout_s, g.get("request_id"))
    answer = reply(ask, conversation, _options(body), store=svc.store)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        # The first piece is made before the 200 goes out, so that an upstream that cannot be
        # reached still answers 502/504 in the one error shape rather than mid-stream.
        pieces = answer.pieces()
        first = list(itertools.islice(pieces, 1))
        stream = itertools.chain(first, pieces)
        events = _events(answer, stream, completion_id, created, usage, g.get("request_id"))
        return Response(stream_with_context(events), mimetype="text/event-stream")
    text = "".join(answer.pieces())
    return jsonify(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": answer.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": answer.finish_reason,
                }
            ],
            "usage": _usage(answer),
            "evidence": _evidence(answer),
        }
    )


def _options(body: ChatRequest) -> ChatOptions:
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > MAX_STOPS:
        raise InvalidRequest(f"stop: at most {MAX_STOPS} stop sequences", param="stop")
    return ChatOptions(
        model=body.model,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        stop=tuple(stops),
        collection=body.collection,
        filter=body.filter,
    )


def _events(
    answer: Reply,
    pieces: Iterator[str],
    completion_id: str,
    created: int,
    usage: bool,
    request_id: str | None,
) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return _sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": answer.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )

    yield chunk({"role": "assistant", "content": ""}, evidence=_evidence(answer))
    try:
        for piece in pieces:
            yield chunk({"content": piece})
    except MMServeError as e:  # the status is sent already: report in the stream and end
        if not e.public:
            log.error("request %s: chat stream failed", request_id, exc_info=e)
        message = e.message if e.public else f"internal error; quote request id {request_id}"
        yield _sse(error_body(message, e.type, e.code, e.param))
        return
    except Exception as e:  # the stream has started: the error handlers cannot answer now
        log.error("request %s: chat stream failed", request_id, exc_info=e)
        message = f"internal error; quote request id {request_id}"
        yield _sse(error_body(message, "server_error", "internal_error"))
        return
    yield chunk({}, answer.finish_reason)
    if usage:
        yield _sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": answer.model,
                "choices": [],
                "usage": _usage(answer),
            }
        )
    yield "data: [DONE]\n\n"


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event)}\n\n"


def _usage(answer: Reply) -> dict[str, int]:
    total = answer.prompt_tokens + answer.completion_tokens
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": total,
    }


def _evidence(answer: Reply) -> dict[str, Any]:
    return {"facts": answer.evidence.facts, "missing": answer.evidence.missing}

"""`upstream:http://host:port/v1#model`: a text LLM behind an OpenAI-compatible server
(llama.cpp's llama-server, vLLM, Ollama) as a chat model, given eyes and ears by mmserve.

services.chat sends it the conversation with the media turned into evidence text (a system
message); this backend forwards it to POST {base}/chat/completions with stream=true and
yields the deltas as they come. The URL is operator configuration (a model source), never
taken from a request. Options after the model name: `#model,timeout_s=120`.

Failures map to the one error shape: no connection or an error status -> 502
(UpstreamFailed, naming the status, not the URL); no byte within timeout_s -> 504.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from mmserve.errors import ConfigError, DeadlineExceeded, UpstreamFailed
from mmserve.models.base import ChatModel, ChatPrompt
from mmserve.models.registry import register

DEFAULT_TIMEOUT_S = 60.0  # between bytes of the upstream's answer, not for the whole reply


class UpstreamChat(ChatModel):
    def __init__(self, model_id: str, base_url: str, model: str, timeout_s: float):
        super().__init__(model_id)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout_s = timeout_s

    def load(self) -> None:
        """Nothing to load: the upstream may start after mmserve; a request finds out."""

    def generate(self, prompt: ChatPrompt) -> Iterator[str]:
        body = {
            "model": self.model,
            "messages": prompt.messages,
            "max_tokens": prompt.max_tokens,
            "temperature": prompt.temperature,
            "stream": True,
        }
        if prompt.stop:
            body["stop"] = list(prompt.stop)
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                yield from _deltas(response)
        except urllib.error.HTTPError as e:
            raise UpstreamFailed(
                f"the upstream model {self.model!r} answered HTTP {e.code}; see its log"
            ) from None
        except TimeoutError:
            raise DeadlineExceeded(
                f"the upstream model {self.model!r} sent nothing for {self.timeout_s:g} s"
            ) from None
        except (urllib.error.URLError, ConnectionError) as e:
            if isinstance(getattr(e, "reason", None), TimeoutError):
                raise DeadlineExceeded(
                    f"the upstream model {self.model!r} did not connect in {self.timeout_s:g} s"
                ) from None
            raise UpstreamFailed(
                f"the upstream model {self.model!r} could not be reached "
                f"({type(getattr(e, 'reason', e)).__name__})"
            ) from None

    def describe(self) -> dict[str, Any]:
        return {"upstream_model": self.model}


def _deltas(response: Any) -> Iterator[str]:
    """The content deltas of an OpenAI SSE stream; a plain JSON answer is taken too."""
    if "text/event-stream" not in response.headers.get("Content-Type", ""):
        answer = json.loads(response.read())
        yield answer["choices"][0]["message"]["content"] or ""
        return
    for raw in response:
        line = raw.decode("utf-8").strip()
        if not line.startswith("data:"):
            continue
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return
        event = json.loads(data)
        if "error" in event:
            raise UpstreamFailed("the upstream model reported an error mid-stream")
        for choice in event.get("choices", []):
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece


@register("upstream:", "an OpenAI-compatible chat server: upstream:http://host:port/v1#model")
def upstream(model_id: str, argument: str) -> UpstreamChat:
    url, _, fragment = argument.partition("#")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"model {model_id!r}: upstream needs an http(s) base URL, e.g. "
            "upstream:http://127.0.0.1:8080/v1#llama3"
        )
    name, *options = fragment.split(",")
    timeout_s = DEFAULT_TIMEOUT_S
    for option in options:
        key, _, value = option.partition("=")
        if key != "timeout_s":
            raise ConfigError(f"model {model_id!r}: unknown upstream option {key!r}")
        try:
            timeout_s = float(value)
        except ValueError:
            raise ConfigError(f"model {model_id!r}: timeout_s needs a number") from None
    return UpstreamChat(model_id, url, name or model_id, timeout_s)

"""Vision-language checkpoints (LLaVA, Qwen2-VL, SmolVLM/Idefics3, PaliGemma, Gemma 3) as
chat models: whatever transformers loads with AutoModelForImageTextToText and AutoProcessor.

services.chat hands over a ChatPrompt: the messages (with the evidence the default models
found as a system message) and the request's images. The images go, in order, at the start
of the last user message, as the processor's chat template places image parts; generation
runs in a thread of its own and its text streams out through a TextIteratorStreamer. One
generation at a time per model (a lock), one torch thread: see hf.one_inference_thread.
Only LLaVA is tested (a tiny random-weight one the tests build); the others share the code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from mmserve.models.base import ChatModel, ChatPrompt
from mmserve.models.hf import HfSource, import_torch


class HfVisionChat(ChatModel):
    def __init__(self, model_id: str, source: HfSource):
        super().__init__(model_id)
        self.source = source
        self.lock = threading.Lock()

    def load(self) -> None:
        self.torch = import_torch()
        from transformers import AutoModelForImageTextToText, AutoProcessor

        kwargs = self.source.pretrained_kwargs()
        self.processor = AutoProcessor.from_pretrained(self.source.location, **kwargs)
        self.network = AutoModelForImageTextToText.from_pretrained(
            self.source.location, dtype=self.torch.float32, **kwargs
        ).eval()

    def generate(self, prompt: ChatPrompt) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        text = self.processor.apply_chat_template(
            template_messages(prompt), add_generation_prompt=True
        )
        inputs = self.processor(
            images=prompt.images or None, text=text, return_tensors="pt"
        )  # input_ids (1, tokens), pixel_values (images, 3, height, width), ...
        streamer = TextIteratorStreamer(
            self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": prompt.temperature}
            if prompt.temperature > 0
            else {"do_sample": False}
        )
        failure: list[BaseException] = []

        def run() -> None:
            with self.lock, self.torch.inference_mode():
                self.torch.set_num_threads(1)
                try:
                    self.network.generate(
                        **inputs, max_new_tokens=prompt.max_tokens, streamer=streamer, **sampling
                    )
                except BaseException as e:  # re-raised in the request thread below
                    failure.append(e)
                    streamer.end()

        worker = threading.Thread(target=run, name=f"generate-{self.id}", daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield piece
        worker.join()
        if failure:
            raise failure[0]

    def describe(self) -> dict[str, Any]:
        return {"architecture": self.source.architecture, "source": self.source.location}


def template_messages(prompt: ChatPrompt) -> list[dict[str, Any]]:
    """The prompt's messages as a chat template takes them: content as parts, with one
    {"type": "image"} per image at the start of the last user message."""
    last_user = max(i for i, m in enumerate(prompt.messages) if m["role"] == "user")
    messages = []
    for index, message in enumerate(prompt.messages):
        parts: list[dict[str, Any]] = []
        if index == last_user:
            parts += [{"type": "image"} for _ in prompt.images]
        parts.append({"type": "text", "text": message["content"]})
        messages.append({"role": message["role"], "content": parts})
    return messages

"""A Python client for mmserve's own routes (collections, search, classifications, label
sets, captions, OCR, audio tags and transcripts, fusion predict and registry, jobs, models,
health). For the OpenAI-compatible routes (/v1/embeddings, /v1/files, /v1/batches) use the
`openai` package.

    from pathlib import Path
    from mmserve.client import Client

    with Client("http://127.0.0.1:8000") as mm:
        caption = mm.images.caption(Path("cat.jpg"))
        hits = mm.search("photos", text="a dog on the beach", top_k=5)
        job = mm.jobs.wait(mm.jobs.create("index", {...}).id, progress_bar=True)

It needs only httpx2 (`pip install mmserve[client]`) and imports no server code: not
Flask, numpy or a model runtime (numpy/Pillow only when you pass their objects).
"""

from mmserve.client import types
from mmserve.client._client import AsyncClient, Client, ProgressBar
from mmserve.client._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    GatewayTimeoutError,
    InternalServerError,
    MMServeClientError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from mmserve.client._resources import audio_item, image_item
from mmserve.client._retry import RetryPolicy

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "BadRequestError",
    "Client",
    "GatewayTimeoutError",
    "InternalServerError",
    "MMServeClientError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProgressBar",
    "RateLimitError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "audio_item",
    "image_item",
    "types",
]

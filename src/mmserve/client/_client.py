"""Client and AsyncClient: the resources of _resources.py over httpx2, with retries.

A call is retried when the server answers 429 or 503 (it did not start the work) or the
connection could not be made, waiting as Retry-After says (jitter only adds to it) or with
a jittered exponential backoff, until `RetryPolicy.max_retries` or the call's deadline.
Other errors raise at once as the typed exceptions of _errors.py.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

try:
    import httpx2
except ImportError as e:  # the one dependency of the client
    raise ImportError("mmserve.client needs httpx2: pip install 'mmserve[client]'") from e

from mmserve.client import types as t
from mmserve.client._errors import APIConnectionError, APITimeoutError, status_error
from mmserve.client._resources import (
    AlignedModels,
    Audio,
    Call,
    Collections,
    FusionModels,
    Images,
    Items,
    Jobs,
    LabelSets,
    Models,
    classify_call,
    predict_call,
    rerank_call,
    search_call,
    transcription_body,
    usage_call,
)
from mmserve.client._retry import RETRY_STATUSES, Attempts, RetryPolicy

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 60.0
REQUEST_ID_HEADER = "X-Request-ID"
STREAM_ERROR_STATUS = {"timeout_error": 504, "server_error": 500, "rate_limit_error": 429}


class _Base:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        retry: RetryPolicy | None,
        seed: int | None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        self.models = Models(self._call)
        self.collections = Collections(self._call)
        self.items = Items(self._call)
        self.label_sets = LabelSets(self._call)
        self.images = Images(self._call)
        self.fusion_models = FusionModels(self._call)
        self.aligned_models = AlignedModels(self._call)

    def _call(self, call: Call) -> Any:
        raise NotImplementedError

    def _attempts(self) -> Attempts:
        return Attempts(self.retry, time.monotonic(), self._rng)

    def _timeout(self, attempts: Attempts) -> float:
        return max(0.001, min(self.timeout_s, attempts.time_left()))

    def search(self, collection: str, **query: Any) -> Any:
        """By exactly one of text=, image=, audio=, item_id=, vector=; top_k, filter,
        include_self; mode ("vector", "keyword", "hybrid") and weights. Returns the hits,
        best first."""
        return self._call(search_call(collection, **query))

    def classify(self, **options: Any) -> Any:
        """One of text=, image=, audio=; labels= or label_set=; prompt, model, top_k."""
        return self._call(classify_call(**options))

    def predict(self, **fields: Any) -> Any:
        """A fusion model's prediction: model=, and its text=, image=, audio= fields."""
        return self._call(predict_call(**fields))

    def rerank(self, query: Any, documents: list[Any], **options: Any) -> Any:
        """Documents ordered by relevance to the query (best first); model, top_n,
        return_documents."""
        return self._call(rerank_call(query, documents, **options))

    def usage(self, **options: Any) -> Any:
        """This key's usage and quota (a dict): period, date (YYYY-MM-DD), key (admin)."""
        return self._call(usage_call(**options))

    def health(self) -> Any:
        return self._call(Call("GET", "/healthz", result=t.Health))

    def ready(self) -> Any:
        """Readiness (ready False while models load: the server's 503 is an answer here)."""
        return self._call(Call("GET", "/readyz", result=t.Readiness, accept=(503,), retry=False))


def _result(call: Call, response: httpx2.Response) -> Any:
    if response.status_code >= 400 and response.status_code not in call.accept:
        raise _error(response)
    body = response.json()
    if call.unwrap is not None:
        body = body[call.unwrap]
    return body if call.result is None else t.parse(call.result, body)


def _error(response: httpx2.Response) -> Exception:
    try:
        body: Any = response.json()
    except ValueError:
        body = {"error": {"message": response.text[:500]}}
    return status_error(response.status_code, body, response.headers.get(REQUEST_ID_HEADER))


def _should_retry(call: Call, response: httpx2.Response) -> bool:
    return call.retry and response.status_code in RETRY_STATUSES


def _event(line: str) -> t.TranscriptDelta | None:
    """One SSE `data:` line of a transcription stream; raises on an error event."""
    if not line.startswith("data:"):
        return None
    event = json.loads(line.removeprefix("data:").strip())
    if event.get("type") == "error":
        status = STREAM_ERROR_STATUS.get(event.get("error", {}).get("type"), 400)
        raise status_error(status, event, event.get("request_id"))
    if event["type"] == "transcript.text.done":
        return t.TranscriptDelta(
            event["type"], event["text"], None, event.get("duration"), event.get("language")
        )
    return t.TranscriptDelta(event["type"], event["delta"], t.parse(t.Segment, event["segment"]))


class ProgressBar:
    """A one-line text bar on stderr for jobs.wait(progress_bar=True)."""

    WIDTH = 30

    def __call__(self, job: t.Job) -> None:
        done, total = job.progress.get("done", 0), job.progress.get("total")
        if total:
            filled = int(self.WIDTH * min(1.0, done / total))
            bar = "#" * filled + "." * (self.WIDTH - filled)
            sys.stderr.write(f"\r{job.type} {job.id[:8]} [{bar}] {done}/{total} {job.state}")
        else:
            sys.stderr.write(f"\r{job.type} {job.id[:8]} {done} done, {job.state}")
        if job.finished:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _watchers(on_progress: Callable[[t.Job], None] | None, bar: bool) -> list[Callable]:
    return [w for w in (on_progress, ProgressBar() if bar else None) if w is not None]


class Client(_Base):
    """mmserve's own routes (the `openai` package covers /v1/embeddings, /v1/files...).

    with Client("http://127.0.0.1:8000") as mm:
        print(mm.images.caption(Path("cat.jpg")).caption)
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx2.BaseTransport | None = None,
        seed: int | None = None,
    ):
        super().__init__(base_url, timeout_s=timeout_s, retry=retry, seed=seed)
        self._http = httpx2.Client(base_url=self.base_url, headers=headers, transport=transport)
        self.jobs = SyncJobs(self._call)
        self.audio = SyncAudio(self._call, self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, call: Call) -> Any:
        return _result(call, self._send(call))

    def _send(self, call: Call, *, stream: bool = False) -> httpx2.Response:
        attempts = self._attempts()
        while True:
            request = self._http.build_request(
                call.method,
                call.path,
                json=call.json,
                params=call.params,
                timeout=self._timeout(attempts),
            )
            try:
                response = self._http.send(request, stream=stream)
            except httpx2.TimeoutException as e:
                raise APITimeoutError(f"{call.method} {call.path}: no answer in time") from e
            except httpx2.ConnectError as e:
                delay = attempts.next_delay(None)
                if delay is None:
                    raise APIConnectionError(f"cannot reach {self.base_url}: {e}") from e
                time.sleep(delay)
                continue
            except httpx2.HTTPError as e:
                raise APIConnectionError(f"{call.method} {call.path}: {e}") from e
            if _should_retry(call, response):
                delay = attempts.next_delay(response.headers.get("Retry-After"))
                if delay is not None:
                    response.close()
                    time.sleep(delay)
                    continue
            if stream and response.status_code >= 400:
                response.read()
            return response


class SyncJobs(Jobs):
    def wait(
        self,
        job_id: str,
        *,
        poll_s: float = 0.5,
        timeout_s: float | None = None,
        on_progress: Callable[[t.Job], None] | None = None,
        progress_bar: bool = False,
    ) -> t.Job:
        """Poll until the job is succeeded, failed or cancelled; returns it (a failed job
        is returned, not raised: look at .state and .error). TimeoutError past timeout_s."""
        watchers = _watchers(on_progress, progress_bar)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job: t.Job = self.get(job_id)
            for watch in watchers:
                watch(job)
            if job.finished:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout_s} s")
            time.sleep(poll_s)


class SyncAudio(Audio):
    def __init__(self, do: Callable[[Call], Any], client: Client):
        super().__init__(do)
        self._client = client

    def stream_transcription(self, audio: Any, **options: Any) -> Iterator[t.TranscriptDelta]:
        """Segments as the server transcribes them: transcript.text.delta events, then one
        transcript.text.done with the whole text."""
        body = transcription_body(audio, stream=True, **options)
        response = self._client._send(
            Call("POST", "/v1/audio/transcriptions", json=body), stream=True
        )
        try:
            if response.status_code >= 400:
                raise _error(response)
            for line in response.iter_lines():
                event = _event(line)
                if event is not None:
                    yield event
        finally:
            response.close()


class AsyncClient(_Base):
    """The same resources as Client, each method awaitable:

    async with AsyncClient() as mm:
        hits = await mm.search("photos", text="a dog")
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        seed: int | None = None,
    ):
        super().__init__(base_url, timeout_s=timeout_s, retry=retry, seed=seed)
        self._http = httpx2.AsyncClient(
            base_url=self.base_url, headers=headers, transport=transport
        )
        self.jobs = AsyncJobs(self._call)
        self.audio = AsyncAudio(self._call, self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, call: Call) -> Any:
        return _result(call, await self._send(call))

    async def _send(self, call: Call, *, stream: bool = False) -> httpx2.Response:
        attempts = self._attempts()
        while True:
            request = self._http.build_request(
                call.method,
                call.path,
                json=call.json,
                params=call.params,
                timeout=self._timeout(attempts),
            )
            try:
                response = await self._http.send(request, stream=stream)
            except httpx2.TimeoutException as e:
                raise APITimeoutError(f"{call.method} {call.path}: no answer in time") from e
            except httpx2.ConnectError as e:
                delay = attempts.next_delay(None)
                if delay is None:
                    raise APIConnectionError(f"cannot reach {self.base_url}: {e}") from e
                await asyncio.sleep(delay)
                continue
            except httpx2.HTTPError as e:
                raise APIConnectionError(f"{call.method} {call.path}: {e}") from e
            if _should_retry(call, response):
                delay = attempts.next_delay(response.headers.get("Retry-After"))
                if delay is not None:
                    await response.aclose()
                    await asyncio.sleep(delay)
                    continue
            if stream and response.status_code >= 400:
                await response.aread()
            return response


class AsyncJobs(Jobs):
    async def wait(
        self,
        job_id: str,
        *,
        poll_s: float = 0.5,
        timeout_s: float | None = None,
        on_progress: Callable[[t.Job], None] | None = None,
        progress_bar: bool = False,
    ) -> t.Job:
        """As Client.jobs.wait, awaitable."""
        watchers = _watchers(on_progress, progress_bar)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job: t.Job = await self.get(job_id)
            for watch in watchers:
                watch(job)
            if job.finished:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout_s} s")
            await asyncio.sleep(poll_s)


class AsyncAudio(Audio):
    def __init__(self, do: Callable[[Call], Any], client: AsyncClient):
        super().__init__(do)
        self._client = client

    async def stream_transcription(
        self, audio: Any, **options: Any
    ) -> AsyncIterator[t.TranscriptDelta]:
        """As Client.audio.stream_transcription, an async iterator."""
        body = transcription_body(audio, stream=True, **options)
        call = Call("POST", "/v1/audio/transcriptions", json=body)
        response = await self._client._send(call, stream=True)
        try:
            if response.status_code >= 400:
                raise _error(response)
            async for line in response.aiter_lines():
                event = _event(line)
                if event is not None:
                    yield event
        finally:
            await response.aclose()

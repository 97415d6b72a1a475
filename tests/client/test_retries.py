"""Retries on 429/503 honour Retry-After, back off with jitter and stop at the deadline;
other errors raise at once, typed, with the server's code, param and request id."""

from __future__ import annotations

import asyncio
import random
import time

import httpx2
import pytest

from mmserve.client import (
    APIConnectionError,
    AsyncClient,
    Client,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
    UnprocessableEntityError,
)

OK = {"status": "ok"}


def error(status, code, retry_after=None):
    headers = {"X-Request-ID": "req-7"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {"error": {"message": "busy", "type": "t", "param": "input", "code": code}}
    return httpx2.Response(status, json={**body, "request_id": "req-7"}, headers=headers)


def scripted(*answers):
    """A transport answering each request with the next of `answers`; records the times."""
    calls = []

    def handle(request):
        calls.append(time.monotonic())
        return answers[min(len(calls), len(answers)) - 1]

    return httpx2.MockTransport(handle), calls


def test_retry_after_is_a_floor_and_the_call_then_succeeds():
    transport, calls = scripted(
        error(429, "overloaded", 0.2),
        error(503, "model_not_ready", 0),
        httpx2.Response(200, json=OK),
    )
    policy = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02)
    with Client("http://x", transport=transport, retry=policy, seed=1) as mm:
        assert mm.health().status == "ok"
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.2  # never sooner than the server asked


def test_gives_up_after_max_retries_with_the_servers_error():
    transport, calls = scripted(error(503, "model_not_ready", 0))
    policy = RetryPolicy(max_retries=2, base_delay_s=0.001)
    with Client("http://x", transport=transport, retry=policy) as mm:
        with pytest.raises(ServiceUnavailableError) as caught:
            mm.health()
    assert len(calls) == 3
    assert (caught.value.code, caught.value.param, caught.value.request_id) == (
        "model_not_ready",
        "input",
        "req-7",
    )


def test_a_retry_after_past_the_deadline_raises_at_once():
    transport, calls = scripted(error(429, "overloaded", 30))
    started = time.monotonic()
    with Client("http://x", transport=transport, retry=RetryPolicy(deadline_s=2)) as mm:
        with pytest.raises(RateLimitError):
            mm.health()
    assert len(calls) == 1 and time.monotonic() - started < 1


def test_client_errors_are_not_retried():
    transport, calls = scripted(error(422, "invalid_type"))
    with Client("http://x", transport=transport) as mm, pytest.raises(UnprocessableEntityError):
        mm.collections.create("c", "m")
    assert len(calls) == 1


def test_backoff_is_jittered_and_bounded():
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0)
    rng = random.Random(0)
    delays = [policy.delay(retry, None, rng) for retry in range(6) for _ in range(20)]
    assert min(delays) >= 0.25 and max(delays) <= 4.0 and len(set(delays)) > 50
    told = [policy.delay(0, "3", rng) for _ in range(20)]
    assert min(told) >= 3.0 and max(told) < 3.0 + 0.5 + 1 and len(set(told)) > 1


def test_an_unreachable_server_is_a_connection_error_after_retries():
    attempts = []

    def refuse(request):
        attempts.append(request)
        raise httpx2.ConnectError("refused", request=request)

    policy = RetryPolicy(max_retries=2, base_delay_s=0.001)
    with Client("http://x", transport=httpx2.MockTransport(refuse), retry=policy) as mm:
        with pytest.raises(APIConnectionError, match="cannot reach"):
            mm.health()
    assert len(attempts) == 3


def test_the_async_client_retries_too():
    transport, calls = scripted(error(429, "overloaded", 0), httpx2.Response(200, json=OK))

    async def run():
        async with AsyncClient("http://x", transport=transport) as mm:
            return await mm.health()

    assert asyncio.run(run()).status == "ok" and len(calls) == 2

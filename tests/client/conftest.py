from __future__ import annotations

import httpx2
import pytest

from mmserve.client import AsyncClient, Client, RetryPolicy
from tests.client.fakes import MODELS
from tests.search_helpers import make_search_app  # noqa: F401

BASE = "http://mmserve.test"
FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.05, deadline_s=5)


@pytest.fixture
def app(make_search_app, tmp_path):  # noqa: F811
    (tmp_path / "media" / "notes").mkdir(parents=True)
    for i in range(5):
        (tmp_path / "media" / "notes" / f"{i}.txt").write_text(f"note number {i}")
    return make_search_app(*MODELS, media_root=tmp_path / "media")


@pytest.fixture
def client(app):
    with Client(BASE, transport=httpx2.WSGITransport(app=app), retry=FAST_RETRY) as mm:
        yield mm


def wsgi_for_async(app):
    """The Flask app behind an async transport: each request is run through WSGI whole."""
    wsgi = httpx2.WSGITransport(app=app)

    def handle(request: httpx2.Request) -> httpx2.Response:
        request.read()
        response = wsgi.handle_request(request)
        content = response.read()
        return httpx2.Response(response.status_code, headers=response.headers, content=content)

    return httpx2.MockTransport(handle)


@pytest.fixture
def async_client(app):
    return AsyncClient(BASE, transport=wsgi_for_async(app), retry=FAST_RETRY)

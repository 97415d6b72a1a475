"""Text no file name, SQL parameter or model input can take (NUL, lone surrogates, very long
strings, '..') is a 400 naming the field on every route where it reaches one, never a 500.
These are the inputs the schemathesis run (tests/e2e/test_contract.py) found or hunts for."""

from __future__ import annotations

import pytest

from tests.search_helpers import make_search_app  # noqa: F401  (a fixture)

LONG = "a" * 5000


@pytest.fixture
def client(make_search_app, tmp_path):  # noqa: F811
    media = tmp_path / "media"
    (media / "photos").mkdir(parents=True)
    return make_search_app(media_root=media).test_client()


def post_raw(client, url: str, body: str):
    """A body as written: json.dumps would escape a lone surrogate the same way, but this
    shows the bytes a client sends."""
    return client.post(url, data=body.encode(), content_type="application/json")


def error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("\u00f6\u0000...", "NUL"),  # the case schemathesis found: a 500 before
        (LONG, "5,000 characters"),
        ("x/" + "b" * 300, "longer than 255 bytes"),
    ],
)
def test_fusion_register_refuses_text_that_is_no_path(client, path, problem):
    found = error(client.post("/v1/fusion/models", json={"name": "animals", "path": path}))
    assert (found["param"], found["code"]) == ("path", "invalid_path")
    assert problem in found["message"]


def test_fusion_register_refuses_a_path_out_of_the_data_directory(client):
    found = error(client.post("/v1/fusion/models", json={"name": "a", "path": "../../etc"}))
    assert (found["param"], found["code"]) == ("path", "path_not_allowed")


@pytest.mark.parametrize("path", ["photos\u0000", LONG, "../.."])
def test_index_job_refuses_bad_folder_paths(client, path):
    body = {"type": "index", "params": {"path": path, "collection": "c"}}
    assert error(client.post("/v1/jobs", json=body))["param"] == "params.path"


@pytest.mark.parametrize("path", ["photos/a\u0000.png", LONG, "../x.png"])
def test_media_paths_are_refused_naming_the_field(client, path):
    body = {"model": "fake", "input": [{"type": "image_url", "image_url": {"url": path}}]}
    found = error(client.post("/v1/embeddings", json=body))
    assert found["code"] in ("invalid_path", "path_not_allowed"), found


def test_a_lone_surrogate_anywhere_in_a_json_body_is_refused_naming_its_field(client):
    client.post("/v1/collections", json={"name": "c", "model": "fake"})
    item = '{"items": [{"id": "a", "content": "x", "metadata": {"k": ["ok", "\\udc80"]}}]}'
    found = error(post_raw(client, "/v1/collections/c/items", item))
    assert (found["param"], found["code"]) == ("items[0].metadata.k[1]", "invalid_unicode")
    found = error(post_raw(client, "/v1/embeddings", '{"input": "\\ud800"}'))
    assert found["param"] == "input"
    # A pair is one character (an emoji), not a lone surrogate.
    assert post_raw(client, "/v1/embeddings", '{"input": "\\ud83d\\ude00"}').status_code == 200


def test_a_lone_surrogate_as_raw_utf8_bytes_is_refused_too(client):
    # ED A0 80: U+D800 written as UTF-8, which a strict encoder never writes but json.loads
    # reads; among other escapes, so both of the body's surrogate checks run.
    body = b'{"input": ["tab\\there", "\xed\xa0\x80"]}'
    found = error(client.post("/v1/embeddings", data=body, content_type="application/json"))
    assert (found["param"], found["code"]) == ("input[1]", "invalid_unicode")
    fine = b'{"input": ["tab\\there", "\\u00e9t\xc3\xa9"]}'  # escapes and UTF-8, no surrogate
    response = client.post("/v1/embeddings", data=fine, content_type="application/json")
    assert response.status_code == 200, response.get_json()


def test_a_filter_field_with_nul_is_refused(client):
    client.post("/v1/collections", json={"name": "c", "model": "fake"})
    client.post("/v1/collections/c/items", json={"items": [{"id": "a", "content": "x"}]})
    body = {"query": "x", "filter": {"\u0000": "a"}}
    found = error(client.post("/v1/collections/c/search", json=body))
    assert found["param"] == "filter" and "NUL" in found["message"]

"""Collections restricted to keys: the maker owns it; readers read; others get 403 and do
not see it listed; admin keys see everything; a deleted collection's grants go with it."""

from __future__ import annotations

from click.testing import CliRunner

from mmserve.cli import main
from tests.auth_helpers import bearer, new_key

SCOPES = ("search:read", "search:write")


def make(make_auth_app):
    app = make_auth_app()
    keys = {name: new_key(app, name, *SCOPES) for name in ("alice", "bob")}
    keys["root"] = new_key(app, "root", "admin")
    client = app.test_client()
    created = client.post(
        "/v1/collections", json={"name": "private", "model": "fake"}, headers=bearer(keys["alice"])
    )
    assert created.status_code == 200, created.get_json()
    return app, client, keys


def add(client, key, text="a note"):
    body = {"items": [{"content": text}]}
    return client.post("/v1/collections/private/items", json=body, headers=bearer(key))


def search(client, key):
    body = {"query": "a note", "top_k": 1}
    return client.post("/v1/collections/private/search", json=body, headers=bearer(key))


def names(client, key):
    listed = client.get("/v1/collections", headers=bearer(key)).get_json()["data"]
    return [c["name"] for c in listed]


def test_the_maker_owns_it_and_others_are_kept_out(make_auth_app):
    _, client, keys = make(make_auth_app)
    assert add(client, keys["alice"]).status_code == 200
    assert search(client, keys["alice"]).status_code == 200
    refused = search(client, keys["bob"])
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "collection_forbidden"
    assert add(client, keys["bob"]).status_code == 403
    assert client.delete("/v1/collections/private", headers=bearer(keys["bob"])).status_code == 403
    assert names(client, keys["alice"]) == ["private"]
    assert names(client, keys["bob"]) == []
    assert names(client, keys["root"]) == ["private"]
    assert search(client, keys["root"]).status_code == 200


def test_a_reader_reads_but_does_not_write(make_auth_app):
    app, client, keys = make(make_auth_app)
    app.extensions["mmserve"].security.access.grant("private", "bob", "reader")
    assert search(client, keys["bob"]).status_code == 200
    assert names(client, keys["bob"]) == ["private"]
    assert add(client, keys["bob"]).status_code == 403


def test_deleting_drops_the_grants(make_auth_app):
    app, client, keys = make(make_auth_app)
    assert (
        client.delete("/v1/collections/private", headers=bearer(keys["alice"])).status_code == 200
    )
    assert app.extensions["mmserve"].security.access.roles("private") == {}
    remade = client.post(
        "/v1/collections", json={"name": "private", "model": "fake"}, headers=bearer(keys["bob"])
    )
    assert remade.status_code == 200
    assert app.extensions["mmserve"].security.access.roles("private") == {"bob": "owner"}


def test_grant_and_ungrant_from_the_cli(make_auth_app, tmp_path):
    _, client, keys = make(make_auth_app)
    data = str(tmp_path / "data")
    runner = CliRunner()
    done = runner.invoke(
        main, ["keys", "--data-dir", data, "grant", "*", "--collection", "private"]
    )
    assert done.exit_code == 0, done.output
    assert search(client, keys["bob"]).status_code == 200  # "*": any caller reads
    done = runner.invoke(
        main, ["keys", "--data-dir", data, "ungrant", "*", "--collection", "private"]
    )
    assert done.exit_code == 0, done.output
    assert search(client, keys["bob"]).status_code == 403


def test_chat_naming_a_restricted_collection_needs_read_access(make_auth_app):
    app, client, keys = make(make_auth_app)
    assert add(client, keys["alice"]).status_code == 200
    carol = new_key(app, "carol", "vision")  # may chat, may not read collections

    def chat(key):
        body = {"messages": [{"role": "user", "content": "Which note?"}], "collection": "private"}
        return client.post("/v1/chat/completions", json=body, headers=bearer(key))

    assert chat(keys["alice"]).status_code == 403  # alice lacks the vision scope chat needs
    for name, scopes in (("dave", ("vision",) + SCOPES), ("erin", ("vision",) + SCOPES)):
        keys[name] = new_key(app, name, *scopes)
    app.extensions["mmserve"].security.access.grant("private", "dave", "reader")
    allowed = chat(keys["dave"])
    assert allowed.status_code == 200, allowed.get_json()
    assert allowed.get_json()["evidence"]["facts"][0]["kind"] == "item"
    not_granted = chat(keys["erin"])
    assert not_granted.status_code == 403
    assert not_granted.get_json()["error"]["code"] == "collection_forbidden"
    assert not_granted.get_json()["error"]["param"] == "collection"
    no_search_scope = chat(carol)
    assert no_search_scope.status_code == 403
    assert no_search_scope.get_json()["error"]["param"] == "search:read"

"""With auth on, /v1/files are their uploader's (a batch's outputs its creator's), like
batches: other keys get 403 and do not see them listed; admin keys see and delete all."""

from __future__ import annotations

import httpx2
import openai
import pytest

from tests.api.test_batches import (
    embedding_line,
    jsonl,
    key_client,
    read_lines,
    start_batch,
    wait_for_batch,
)
from tests.auth_helpers import make_auth_app, new_key  # noqa: F401
from tests.search_helpers import make_search_app  # noqa: F401


def upload(client, name="in.jsonl"):
    return client.files.create(file=(name, jsonl(embedding_line("a", "one"))), purpose="batch")


def listed(client):
    return sorted(f.id for f in client.files.list())


def test_a_key_sees_reads_and_deletes_only_its_own_files(make_auth_app):  # noqa: F811
    app = make_auth_app()
    alice = key_client(app, new_key(app, "alice", "train", "embed"))
    bob = key_client(app, new_key(app, "bob", "train", "embed"))
    admin = key_client(app, new_key(app, "root", "admin"))
    hers, his = upload(alice), upload(bob)
    assert listed(alice) == [hers.id] and listed(bob) == [his.id]
    assert listed(admin) == sorted([hers.id, his.id])
    assert alice.files.retrieve(hers.id).filename == "in.jsonl"
    assert "owner" not in alice.get(f"/files/{hers.id}", cast_to=httpx2.Response).json()

    for attempt in (
        lambda: bob.files.retrieve(hers.id),
        lambda: bob.files.content(hers.id),
        lambda: bob.files.delete(hers.id),
    ):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            attempt()
        assert refused.value.body["code"] == "file_forbidden"
    with pytest.raises(openai.PermissionDeniedError):  # nor may a batch read it for bob
        bob.batches.create(
            input_file_id=hers.id, endpoint="/v1/embeddings", completion_window="24h"
        )
    assert read_lines(alice, hers.id)[0]["custom_id"] == "a"  # still there, unchanged

    assert admin.files.content(his.id).text.startswith("{")
    assert admin.files.delete(his.id).deleted
    assert listed(bob) == [] and listed(admin) == [hers.id]
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(his.id)


def test_a_batchs_output_files_are_its_creators(make_auth_app):  # noqa: F811
    app = make_auth_app()
    alice = key_client(app, new_key(app, "alice", "train", "embed"))
    bob = key_client(app, new_key(app, "bob", "train", "embed"))
    batch = wait_for_batch(alice, start_batch(alice, 2).id)
    assert batch.status == "completed" and batch.output_file_id in listed(alice)
    assert len(read_lines(alice, batch.output_file_id)) == 2
    assert batch.output_file_id not in listed(bob)
    with pytest.raises(openai.PermissionDeniedError):
        bob.files.content(batch.output_file_id)


def test_a_rotated_key_keeps_its_files(make_auth_app):  # noqa: F811
    app = make_auth_app()
    keys = app.extensions["mmserve"].security.keys
    alice = key_client(app, new_key(app, "alice", "train"))
    mine = upload(alice)
    _, secret = keys.rotate("alice")
    assert listed(key_client(app, secret)) == [mine.id]  # the key's id, not its secret


def test_with_auth_off_every_caller_shares_the_files(make_search_app):  # noqa: F811
    app = make_search_app()
    one, other = key_client(app, "unused"), key_client(app, "other")
    mine = upload(one)
    assert listed(other) == [mine.id]
    assert other.files.delete(mine.id).deleted

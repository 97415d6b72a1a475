"""`mmserve index` and `mmserve search` through click's CliRunner, with the fake model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mmserve.cli import main
from mmserve.services.content import Content
from mmserve.services.store_embed import content_hash
from mmserve.store import SearchStore
from mmserve.store.access import CollectionAccess
from mmserve.store.keys import open_auth_db

ENV = {"MMSERVE_MODELS": "fake", "MMSERVE_CONFIG": ""}


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    for i, text in enumerate(["a cat", "a much longer sentence here", "mid size"]):
        (root / f"{i}.txt").write_text(text)
    (root / "broken.txt").write_bytes(b"\xff\xfe")
    (root / "notes.pdf").write_bytes(b"%PDF")
    return root


def invoke(*args):
    result = CliRunner().invoke(main, [*map(str, args)], env=ENV, catch_exceptions=False)
    return result


def test_index_reports_failures_then_resumes_and_skips(folder, tmp_path):
    data = tmp_path / "data"
    first = invoke("index", folder, "--collection", "files", "--data-dir", data)
    assert first.exit_code == 0, first.output
    assert "failed: broken.txt: not UTF-8 text" in first.output
    assert "skipped: notes.pdf: unsupported file type '.pdf'" in first.output
    assert "files: 3 indexed, 0 already indexed, 1 failed, 1 unsupported (5 files)" in first.output
    (folder / "3.txt").write_text("a new file")
    second = invoke("index", folder, "-c", "files", "--data-dir", data)
    assert "files: 1 indexed, 4 already indexed, 1 failed" in second.output
    with SearchStore(data / "search") as store:
        assert store.get_collection("files").item_count == 4
        assert store.get_collection("files").model == "fake"
        assert store.ingest.counts("files") == {
            "pending": 0,
            "indexed": 4,
            "failed": 1,
            "skipped": 1,
        }


def test_index_refuses_another_model_for_an_existing_collection(folder, tmp_path):
    data = tmp_path / "data"
    invoke("index", folder, "-c", "files", "--data-dir", data)
    other = CliRunner().invoke(
        main,
        ["index", str(folder), "-c", "files", "--model", "other", "--data-dir", str(data)],
        env={**ENV, "MMSERVE_MODELS": "fake,other=fake:dim=4"},
    )
    assert other.exit_code == 1 and "embeds with 'fake', not 'other'" in other.output


def test_search_prints_a_table_and_takes_filters(folder, tmp_path):
    data = tmp_path / "data"
    invoke("index", folder, "-c", "files", "--data-dir", data)
    result = invoke("search", "files", "a dog", "--data-dir", data, "--top-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["#", "score", "modality", "id", "metadata"]
    assert len(lines) == 3 and lines[1].split()[2] == "text"
    where = json.dumps({"name": "1.txt"})
    only = invoke("search", "files", "x", "--data-dir", data, "--filter", where)
    assert [line.split()[3] for line in only.output.splitlines()[1:]] == ["1.txt"]
    by_id = invoke("search", "files", "0.txt", "--id", "--data-dir", data, "-k", "5")
    assert "0.txt" not in [line.split()[3] for line in by_id.output.splitlines()[1:]]
    none = invoke("search", "files", "x", "--data-dir", data, "--filter", '{"name": "zz"}')
    assert none.output.strip() == "no hits"


def test_search_errors_are_readable(folder, tmp_path):
    data = tmp_path / "data"
    invoke("index", folder, "-c", "files", "--data-dir", data)
    missing = CliRunner().invoke(main, ["search", "nope", "x", "--data-dir", str(data)], env=ENV)
    assert missing.exit_code == 1 and "nope" in missing.output
    bad = CliRunner().invoke(
        main, ["search", "files", "x", "--data-dir", str(data), "--filter", "{"], env=ENV
    )
    assert bad.exit_code == 2 and "--filter" in bad.output
    op = CliRunner().invoke(
        main,
        ["search", "files", "x", "--data-dir", str(data), "--filter", '{"a": {"near": 1}}'],
        env=ENV,
    )
    assert op.exit_code == 1 and "near" in op.output


def test_index_strips_what_the_collection_was_made_to(tmp_path):
    """A collection made with deidentify (here "text") is stripped by `mmserve index` too."""
    root, data = tmp_path / "notes", tmp_path / "data"
    root.mkdir()
    (root / "mail.txt").write_text("write to jane@mail.example")
    db = open_auth_db(data)
    CollectionAccess(db).set_deidentify("notes", ["text"])
    db.close()
    assert invoke("index", root, "-c", "notes", "--data-dir", data).exit_code == 0
    with SearchStore(data / "search") as store:
        stored = store.get_item("notes", "mail.txt").content_hash
    assert stored == content_hash(Content("text", "write to [EMAIL]"))

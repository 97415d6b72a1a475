"""The keyword index's pieces: what is indexed, the query sanitiser, the fusion, the backfill."""

from __future__ import annotations

import pytest

from mmserve.store import SearchStore
from mmserve.store.fusion import reciprocal_rank_fusion
from mmserve.store.keywords import item_text, match_expression


def test_item_text_joins_the_text_and_every_metadata_string():
    metadata = {"title": "Drill", "year": 2021, "tags": ["cordless", 3], "more": {"sku": "XJ-9"}}
    assert item_text("a text", metadata).split("\n") == ["a text", "Drill", "cordless", "XJ-9"]
    assert item_text(None, None) == ""


def test_match_expression_quotes_every_token():
    assert match_expression('XJ-9000 OR "NEAR(') == '"XJ" OR "9000" OR "OR" OR "NEAR"'
    assert match_expression("  -- !") is None


def test_rrf_weights_and_ranks():
    keys, scores = reciprocal_rank_fusion({"a": [1, 2], "b": [2, 3]}, {"a": 1, "b": 2}, 3)
    assert keys == [2, 3, 1]
    assert scores == pytest.approx([1 / 62 + 2 / 61, 2 / 62, 1 / 61])


def test_a_data_dir_from_before_the_index_is_backfilled_from_metadata(tmp_path):
    with SearchStore(tmp_path) as store:
        store.create_collection("c", model="m", dim=2)
        store.upsert_items("c", [{"id": "old", "vector": [1, 0], "metadata": {"t": "Zebra"}}])
        conn = store.db.connection()
        conn.execute("DROP TRIGGER items_fts_delete")  # as schema version 1 left it
        conn.execute("DROP TABLE items_fts")
        conn.execute("PRAGMA user_version=1")
    with SearchStore(tmp_path) as store:
        assert [hit.id for hit in store.search_keywords("c", "zebra")] == ["old"]
        store.delete_item("c", "old")  # the trigger is back too
        assert store.search_keywords("c", "zebra") == []

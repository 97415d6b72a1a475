"""One SQLite connection per thread, closed when its thread ends: the HTTP server ends
request threads that stay idle and starts new ones, which must not pile up connections."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from mmserve.store.db import Database


def test_a_thread_that_ends_takes_its_connection_with_it(tmp_path):
    db = Database(tmp_path / "store.sqlite3")
    mine = db.connection()
    theirs: list[sqlite3.Connection] = []
    for _ in range(3):
        thread = threading.Thread(target=lambda: theirs.append(db.connection()))
        thread.start()
        thread.join()
    assert len(set(map(id, theirs))) == 3  # each thread had its own
    for conn in theirs:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")
    assert mine.execute("SELECT 1").fetchone() == (1,)  # a live thread's stays open
    assert list(db._connections.values()) == [mine]
    db.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        mine.execute("SELECT 1")

"""The SQLite connection layer: one writer at a time, readers never blocked.

Why this shape:
- WAL journal: readers see the last committed snapshot and never wait for the writer.
- synchronous=FULL: COMMIT returns only after the WAL is fsynced, so a write the caller
  has been told about survives `kill -9` and a power cut. (NORMAL would lose the last
  transactions on power loss; we promise durability on return.)
- One writer: a threading.Lock per store serialises this process's writers before they
  reach SQLite, so they queue fairly instead of spinning in SQLite's busy handler; every
  write transaction starts with BEGIN IMMEDIATE, which takes SQLite's write lock up front,
  so writers in *other processes* wait (busy_timeout) rather than failing halfway with
  SQLITE_BUSY when a read transaction tries to upgrade.
- One connection per thread (sqlite3 connections must not be used by two threads at once),
  closed when its thread ends (the HTTP server ends request threads that stay idle and
  starts new ones) and all by close().
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmserve.errors import MMServeError
from mmserve.store.schema import SCHEMA, SCHEMA_VERSION


class StoreClosed(MMServeError):
    code = "store_closed"


class Database:
    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_s: float = 30.0,
        schema: tuple[str, ...] | list[str] = tuple(SCHEMA),
        schema_version: int = SCHEMA_VERSION,
    ):
        """`schema`: the CREATE statements of this file (default: the search store's)."""
        self.path = path
        self.schema = tuple(schema)
        self.schema_version = schema_version
        self.busy_timeout_s = busy_timeout_s
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._connections: dict[int, sqlite3.Connection] = {}  # by _ThreadSlot number
        self._slot_numbers = itertools.count()
        self._connections_lock = threading.Lock()
        self._closed = False
        self._create_schema()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        if self._closed:
            raise StoreClosed("the store is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so Python's sqlite3 never
            # opens a transaction behind our back. check_same_thread=False only so close()
            # can close every thread's connection; each is still used by one thread.
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            number = next(self._slot_numbers)
            self._local.slot = slot = _ThreadSlot()
            with self._connections_lock:
                self._connections[number] = conn
            # The thread's local storage is freed when it ends, and the slot with it.
            weakref.finalize(slot, _release, self._connections, self._connections_lock, number)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; committed (and fsynced) when the block exits cleanly."""
        with self._write_lock:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed snapshot."""
        conn = self.connection()
        if conn.in_transaction:  # nested in a write or read of this thread: same snapshot
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._write_lock, self._connections_lock:
            self._closed = True
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()

    def _create_schema(self) -> None:
        conn = self.connection()
        # journal_mode is a property of the file: set once, kept by every later connection.
        conn.execute("PRAGMA journal_mode=WAL")
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > self.schema_version:
                raise MMServeError(
                    f"{self.path} was written by a newer mmserve (schema {version}, this one "
                    f"knows {self.schema_version}); upgrade mmserve or use another data_dir"
                )
            for statement in self.schema:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={self.schema_version}")


class _ThreadSlot:
    """Held only by one thread's local storage: collected when that thread ends."""


def _release(connections: dict[int, sqlite3.Connection], lock: threading.Lock, number: int) -> None:
    """Close the connection of a thread that ended (unless close() already did)."""
    with lock:
        conn = connections.pop(number, None)
    if conn is not None:
        conn.close()

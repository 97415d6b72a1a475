"""The audit log: one JSON line per request that needs a scope, in <data_dir>/audit/audit.log,
rotated at AUDIT_MAX_BYTES with AUDIT_BACKUPS older files (audit.log.1 the newest of them).

Written directly rather than through `logging`: a logging call builds a LogRecord, looks up
its caller's frame, and the rotating handler stats the file twice and formats the line twice
before writing it: ~22 us a request, against ~3 us for encoding and appending the line here.
Each line is flushed as it is written, so a crash loses none that a request finished.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import orjson

AUDIT_FOLDER = "audit"  # under config.data_dir
AUDIT_MAX_BYTES = 10 * 1024 * 1024
AUDIT_BACKUPS = 5


class AuditLog:
    def __init__(
        self, folder: Path, *, max_bytes: int = AUDIT_MAX_BYTES, backups: int = AUDIT_BACKUPS
    ):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "audit.log"
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._file: Any = None  # opened at the first line, as the log may never get one

    def write(self, record: dict[str, Any]) -> None:
        """Append `record` as one JSON line, after rotating if the line would pass the size."""
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "ab")  # kept open; closed by close()
            if self._file.tell() + len(line) > self.max_bytes and self._file.tell() > 0:
                self._rotate()
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _rotate(self) -> None:
        """audit.log.(n-1) -> .n, ..., audit.log -> .1; the oldest past `backups` goes."""
        self._file.close()
        for number in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{number + 1}"))
        if self.backups > 0:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._file = open(self.path, "ab")

"""Uploaded and generated files (OpenAI's /v1/files): persistence only.

Each file is two entries in `<data_dir>/files/`: `<id>.data` (the bytes) and `<id>.json`
(its record: name, purpose, size, creation time). Both are written to a temporary name and
renamed into place, data first, so a crash leaves either a whole file or no record; a
`.data` without a record is an upload that never finished and is ignored.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mmserve.errors import InvalidRequest, NotFound, PayloadTooLarge
from mmserve.files import write_atomically

FILE_ID_PREFIX = "file-"
COPY_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FileRecord:
    id: str
    filename: str
    purpose: str  # "batch" (uploaded input), "batch_output" (written by a batch)
    bytes: int
    created_at: int
    # who uploaded it (a Principal.owner(): a key by id, an OIDC subject); None with auth
    # off. A batch's output files get the batch's creator. Never shown in the API.
    owner: dict[str, Any] | None = None


class FileStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def create(
        self,
        stream: BinaryIO,
        *,
        filename: str,
        purpose: str,
        max_bytes: int,
        owner: dict[str, Any] | None = None,
    ) -> FileRecord:
        """Store an upload read from `stream`; 413 past `max_bytes` (nothing is kept)."""
        file_id = FILE_ID_PREFIX + secrets.token_hex(12)
        size = 0

        def copy(out: BinaryIO) -> None:
            nonlocal size
            while chunk := stream.read(COPY_CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:  # the partial file is removed
                    raise PayloadTooLarge(
                        f"file is over {max_bytes:,} bytes, the limit (limits.max_file_bytes)",
                        param="file",
                        code="file_too_large",
                    )
                out.write(chunk)

        write_atomically(self._data(file_id), copy)
        return self._write_record(
            FileRecord(file_id, filename, purpose, size, int(time.time()), owner)
        )

    def adopt(
        self,
        source: Path,
        *,
        file_id: str,
        filename: str,
        purpose: str,
        owner: dict[str, Any] | None = None,
    ) -> FileRecord:
        """Move a finished file (a batch's output) into the store under a chosen id.
        Idempotent: adopting the same id again returns the existing record."""
        _check_id(file_id)
        if self._record(file_id).exists():
            return self.get(file_id)
        size = source.stat().st_size
        with source.open("rb") as data:
            write_atomically(self._data(file_id), lambda out: shutil.copyfileobj(data, out))
        return self._write_record(
            FileRecord(file_id, filename, purpose, size, int(time.time()), owner)
        )

    def get(self, file_id: str) -> FileRecord:
        try:
            _check_id(file_id)
            raw = self._record(file_id).read_text()
        except (OSError, InvalidRequest):
            raise NotFound(f"file {file_id!r} does not exist", param="file_id") from None
        return FileRecord(**json.loads(raw))

    def content_path(self, file_id: str) -> Path:
        self.get(file_id)
        return self._data(file_id)

    def list(self, *, purpose: str | None = None) -> Iterable[FileRecord]:
        """Newest first."""
        records = [self.get(p.stem) for p in self.root.glob(f"{FILE_ID_PREFIX}*.json")]
        records = [r for r in records if purpose is None or r.purpose == purpose]
        return sorted(records, key=lambda r: (-r.created_at, r.id))

    def delete(self, file_id: str) -> FileRecord:
        record = self.get(file_id)
        self._record(file_id).unlink(missing_ok=True)  # the record first: no half-file shows
        self._data(file_id).unlink(missing_ok=True)
        return record

    def _write_record(self, record: FileRecord) -> FileRecord:
        write_atomically(self._record(record.id), json.dumps(asdict(record)).encode())
        return record

    def _data(self, file_id: str) -> Path:
        return self.root / f"{file_id}.data"

    def _record(self, file_id: str) -> Path:
        return self.root / f"{file_id}.json"


def _check_id(file_id: str) -> None:
    """Ids name files on disk: only our own shape, so no id can point outside the folder."""
    tail = file_id.removeprefix(FILE_ID_PREFIX)
    plain = tail.isascii() and tail.replace("-", "").isalnum()
    if not file_id.startswith(FILE_ID_PREFIX) or not plain:
        raise InvalidRequest(f"{file_id!r} is not a file id", param="file_id")

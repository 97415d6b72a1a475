"""Indexing a folder of text, image and audio files into a collection, resumably.

Used by the "index" job and by `mmserve index`, so both walk, skip and report alike. Files
are visited in path order, in batches: each batch is embedded (through the embedding cache)
and upserted in one transaction, then recorded in the store's ingest progress. A second
run skips every file whose size and mtime match a row already "indexed" (or "skipped"), so
an interrupted run resumes where it stopped and an unchanged folder costs one stat per file.
A file that cannot be read or embedded is recorded "failed" with the reason and the walk
goes on; the next run tries it again.

Item ids are the file's path relative to the folder (POSIX separators), so indexing again
replaces an item rather than duplicating it; metadata holds {"path", "name", "modality",
"bytes"} (filter on {"modality": "image"} to search the images only).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmserve.errors import ClientError, MMServeError
from mmserve.media import MediaPolicy, decode_audio, decode_image
from mmserve.models.base import Waveform
from mmserve.services.content import Content
from mmserve.services.deidentify import deidentify_piece
from mmserve.services.store_embed import Piece, embed_pieces, piece
from mmserve.store import IngestFile, ItemInput, SearchStore

log = logging.getLogger("mmserve.jobs")
MODALITY_BY_SUFFIX = {
    **dict.fromkeys((".txt", ".md", ".text"), "text"),
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"), "image"),
    **dict.fromkeys((".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a"), "audio"),
}
BATCH_FILES = 16  # files embedded and committed together: one fsync per batch
MAX_TEXT_BYTES = 1024 * 1024  # a text file past this is refused, not truncated silently


@dataclass
class FolderReport:
    total: int = 0  # files seen
    indexed: int = 0  # embedded and stored by this run
    unchanged: int = 0  # already indexed by an earlier run, skipped
    failed: dict[str, str] = field(default_factory=dict)  # path -> why
    unsupported: dict[str, str] = field(default_factory=dict)  # path -> why

    @property
    def done(self) -> int:
        return self.indexed + self.unchanged + len(self.failed) + len(self.unsupported)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "unsupported": self.unsupported,
        }


@dataclass
class FolderIndexer:
    store: SearchStore
    pool: Any  # ModelPool serving the collection's model
    collection: str
    root: Path
    policy: MediaPolicy = field(default_factory=MediaPolicy)
    timeout_s: float = 300.0
    batch_files: int = BATCH_FILES
    # what to strip before embedding and storing: "text", "faces" (services/deidentify.py)
    deidentify: tuple[str, ...] = ()

    def files(self) -> list[Path]:
        """Every regular file under root, hidden ones left out, in path order."""
        found = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [Path(folder) / n for n in names if not n.startswith(".")]
        return sorted(found)

    def run(self, on_batch: Callable[[FolderReport], None] = lambda report: None) -> FolderReport:
        """Index every file; `on_batch(report)` after each batch (progress, cancellation:
        it may raise to stop, and everything committed so far stays)."""
        files = self.files()
        report = FolderReport(total=len(files))
        for start in range(0, len(files), self.batch_files):
            self._batch(files[start : start + self.batch_files], report)
            on_batch(report)
        return report

    def _batch(self, paths: list[Path], report: FolderReport) -> None:
        entries: dict[str, IngestFile] = {}
        for path in paths:
            try:
                entries[self._rel(path)] = self._stat(path)
            except OSError as e:  # gone since the walk, or unreadable metadata
                report.failed[self._rel(path)] = _reason(e)
        skip = self.store.ingest.unchanged(self.collection, list(entries.values()))
        report.unchanged += len(skip)
        pieces: dict[str, Piece] = {}
        failed: dict[str, str] = {}
        rows: list[IngestFile] = []
        for rel, entry in entries.items():
            if rel in skip:
                continue
            try:
                pieces[rel] = self._piece(self.root / rel, rel)
            except _Unsupported as e:
                report.unsupported[rel] = str(e)
                rows.append(_row(entry, "skipped", error=str(e)))
            except (OSError, ClientError) as e:
                failed[rel] = _reason(e)
        vectors = self._embed(pieces, failed)
        items = [
            ItemInput(
                v,
                pieces[rel].modality,
                rel,
                pieces[rel].content_hash,
                _meta(entries[rel], pieces[rel].modality),
                _keyword_text(pieces[rel]),
            )
            for rel, v in vectors.items()
        ]
        if items:
            self.store.upsert_items(self.collection, items)
        rows += [_row(entries[rel], "indexed", pieces[rel].content_hash) for rel in vectors]
        rows += [_row(entries[rel], "failed", error=why) for rel, why in failed.items()]
        report.indexed += len(vectors)
        report.failed.update(failed)
        if rows:
            self.store.ingest.record(self.collection, rows)

    def _embed(self, pieces: dict[str, Piece], failed: dict[str, str]) -> dict[str, Any]:
        """Vectors by path; a batch that fails is retried file by file to find the culprit,
        whose reason goes into `failed`."""
        if not pieces:
            return {}
        model = self.store.get_collection(self.collection).model
        try:
            return dict(zip(pieces, self._call(model, list(pieces.values())), strict=True))
        except Exception:  # noqa: BLE001 - one bad file must not stop the walk
            pass
        found = {}
        for rel, one in pieces.items():
            try:
                found[rel] = self._call(model, [one])[0]
            except Exception as e:  # noqa: BLE001 - recorded with its reason, walk goes on
                if not isinstance(e, ClientError | OSError):
                    log.warning("indexing %s failed", rel, exc_info=True)
                failed[rel] = _reason(e)
        return found

    def _call(self, model: str, pieces: list[Piece]) -> list[Any]:
        return embed_pieces(self.pool, self.store, model, pieces, timeout_s=self.timeout_s)

    def _piece(self, path: Path, rel: str) -> Piece:
        """The file read and decoded (so that its hash is the content's, as over HTTP)."""
        modality = file_modality(rel)
        found = decode_file(path.read_bytes(), modality, rel, self.policy)
        return deidentify_piece(found, self.deidentify, {}) if self.deidentify else found

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _stat(self, path: Path) -> IngestFile:
        st = path.stat()
        return IngestFile(self._rel(path), st.st_size, st.st_mtime)


class _Unsupported(Exception):
    pass


def file_modality(rel: str) -> str:
    """text, image or audio by the file's suffix; _Unsupported for any other file."""
    suffix = Path(rel).suffix
    modality = MODALITY_BY_SUFFIX.get(suffix.lower())
    if modality is None:
        raise _Unsupported(f"unsupported file type {suffix or '(none)'!r}")
    return modality


def decode_file(data: bytes, modality: str, rel: str, policy: MediaPolicy) -> Piece:
    """A file's bytes decoded and hashed as the same content sent over HTTP would be."""
    if modality == "image":
        return piece(Content("image", decode_image(data, policy=policy, field=rel)), rel)
    if modality == "audio":
        samples = decode_audio(data, policy=policy, field=rel)
        return piece(Content("audio", Waveform(samples)), rel)
    if len(data) > MAX_TEXT_BYTES:
        raise ClientError(f"text file over {MAX_TEXT_BYTES} bytes; split it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ClientError(f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise ClientError("empty text file")
    return piece(Content("text", text), rel)


def _row(
    entry: IngestFile, status: str, digest: str | None = None, error: str | None = None
) -> IngestFile:
    return IngestFile(entry.path, entry.size, entry.mtime, digest, status, error)


def _keyword_text(p: Piece) -> str | None:
    """A text file's text, for the keyword index (images and audio have none at ingest)."""
    return p.content.value if isinstance(p.content.value, str) else None


def _meta(entry: IngestFile, modality: str) -> dict[str, Any]:
    # modality is in the metadata too, so that searches can filter on it
    name = Path(entry.path).name
    return {"path": entry.path, "name": name, "modality": modality, "bytes": entry.size}


def _reason(error: Exception) -> str:
    if isinstance(error, MMServeError):
        return error.message if error.public else f"{type(error).__name__}: the model failed"
    if isinstance(error, OSError):
        return f"cannot read: {error.strerror or error}"
    return f"{type(error).__name__} while embedding (see the log)"

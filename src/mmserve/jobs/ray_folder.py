"""Indexing a folder with a Ray Data pipeline: `mmserve index --ray` and the index job on a
Ray-backed server.

Same walk, same skipping, same report and same rows as FolderIndexer (folder.py), which this
extends; only the reading and encoding move to the cluster. Files not yet indexed are read by
`read_binary_files` tasks and encoded by `FileEncoder` actors (`map_batches` with a callable
class: the model loads once per actor, `data_concurrency` actors), each decoding its files
with the same `decode_file` and embedding them through a local ModelPool with the same
`embed_contents` as the server. Results stream back to this process, the one writer: every
`batch_files` results are upserted and recorded in one transaction (and their vectors put in
the embedding cache), so an interrupted run resumes where its last commit stopped.

The files are read by path, so every node must see the folder at the same path (a shared
file system, or one machine). Only imported when Ray is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
import ray.data

from mmserve.batching.pool import ModelPool
from mmserve.cluster import join
from mmserve.config import Config, replace
from mmserve.errors import ClientError
from mmserve.jobs.folder import (
    FolderIndexer,
    FolderReport,
    _meta,
    _reason,
    _row,
    _Unsupported,
    decode_file,
    file_modality,
)
from mmserve.metrics import Metrics
from mmserve.services.content import embed_contents
from mmserve.services.store_embed import Piece
from mmserve.store import IngestFile, ItemInput

log = logging.getLogger("mmserve.jobs")
READ_CPUS = 0  # reading waits on the disk; and encoders holding every CPU must not starve it


@dataclass
class RayFolderIndexer(FolderIndexer):
    config: Config = field(default_factory=Config)

    def run(self, on_batch: Callable[[FolderReport], None] = lambda report: None) -> FolderReport:
        join(self.config.ray)  # a server with Ray-backed models has joined already
        files = self.files()
        report = FolderReport(total=len(files))
        pending = self._pending(files, report)
        on_batch(report)
        if not pending:
            return report
        model_id = self.store.get_collection(self.collection).model
        results: list[dict[str, Any]] = []
        for row in self._encoded(pending, model_id):
            results.append(row)
            if len(results) >= self.batch_files:
                self._commit(model_id, pending, results, report)
                results = []
                on_batch(report)
        if results:
            self._commit(model_id, pending, results, report)
            on_batch(report)
        return report

    def _pending(self, files: list[Path], report: FolderReport) -> dict[str, IngestFile]:
        """Files to encode, by relative path; unchanged ones counted, unreadable or
        unsupported ones reported and recorded here, as FolderIndexer does."""
        entries: dict[str, IngestFile] = {}
        for path in files:
            try:
                entries[self._rel(path)] = self._stat(path)
            except OSError as e:
                report.failed[self._rel(path)] = _reason(e)
        skip = self.store.ingest.unchanged(self.collection, list(entries.values()))
        report.unchanged += len(skip)
        pending, skipped = {}, []
        for rel, entry in entries.items():
            if rel in skip:
                continue
            try:
                file_modality(rel)
            except _Unsupported as e:
                report.unsupported[rel] = str(e)
                skipped.append(_row(entry, "skipped", error=str(e)))
                continue
            pending[rel] = entry
        if skipped:
            self.store.ingest.record(self.collection, skipped)
        return pending

    def _encoded(self, pending: dict[str, IngestFile], model_id: str) -> Iterator[dict[str, Any]]:
        ray_config = self.config.ray
        settings = ray_config.for_model(model_id)
        model = self.config.model(model_id)
        config = replace(self.config, models=(model,)) if model else self.config
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the caller shows its own
        paths = [str(self.root / rel) for rel in pending]
        dataset = ray.data.read_binary_files(
            paths, include_paths=True, num_cpus=READ_CPUS
        ).map_batches(
            FileEncoder,
            fn_constructor_args=(config, model_id, str(self.root), self.timeout_s),
            batch_size=ray_config.data_batch_size,
            compute=ray.data.ActorPoolStrategy(size=ray_config.data_concurrency),
            num_cpus=settings.num_cpus,
            num_gpus=settings.num_gpus or None,
            batch_format="pandas",
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            yield from batch.to_dict("records")

    def _commit(
        self,
        model_id: str,
        pending: dict[str, IngestFile],
        results: list[dict[str, Any]],
        report: FolderReport,
    ) -> None:
        """The one writer: items, ingest rows and cache entries of a batch of results."""
        items, rows, fresh = [], [], {}
        for result in results:
            rel, entry = result["path"], pending[result["path"]]
            if result["error"]:
                report.failed[rel] = result["error"]
                rows.append(_row(entry, "failed", error=result["error"]))
                continue
            vector = np.asarray(result["vector"], dtype=np.float32)
            modality, digest = result["modality"], result["content_hash"]
            items.append(ItemInput(vector, modality, rel, digest, _meta(entry, modality)))
            rows.append(_row(entry, "indexed", digest))
            fresh[digest] = vector
        if items:
            self.store.upsert_items(self.collection, items)
            self.store.embedding_cache.put_many(model_id, fresh)
        self.store.ingest.record(self.collection, rows)
        report.indexed += len(items)


class FileEncoder:
    """A Ray Data actor: decodes and embeds a batch of files with one loaded model."""

    def __init__(self, config: Config, model_id: str, root: str, timeout_s: float):
        self.policy = config.media
        self.model_id = model_id
        self.root = Path(root)
        self.timeout_s = timeout_s
        self.pool = ModelPool.from_config(config, Metrics())
        self.pool.start(wait=True)
        runner = self.pool.get(model_id)
        if runner.error:
            raise RuntimeError(f"model {model_id!r} failed to load: {runner.error}")

    def __call__(self, batch: Any) -> Any:
        """pandas rows {bytes, path} -> rows {path, modality, content_hash, vector, error}."""
        rels = [Path(p).relative_to(self.root).as_posix() for p in batch["path"]]
        pieces: dict[str, Piece] = {}
        errors: dict[str, str] = {}
        for rel, data in zip(rels, batch["bytes"], strict=True):
            try:
                pieces[rel] = decode_file(bytes(data), file_modality(rel), rel, self.policy)
            except (OSError, ClientError) as e:
                errors[rel] = _reason(e)
        vectors = self._embed(pieces, errors)
        return pd.DataFrame(
            {
                "path": rels,
                "modality": [pieces[r].modality if r in vectors else "" for r in rels],
                "content_hash": [pieces[r].content_hash if r in vectors else "" for r in rels],
                "vector": [vectors[r].tolist() if r in vectors else [] for r in rels],
                "error": [errors.get(r, "") for r in rels],
            }
        )

    def _embed(self, pieces: dict[str, Piece], errors: dict[str, str]) -> dict[str, np.ndarray]:
        """As FolderIndexer._embed: the batch at once, or file by file to find the culprit."""
        if not pieces:
            return {}
        try:
            return dict(zip(pieces, self._call(list(pieces.values())), strict=True))
        except Exception:  # noqa: BLE001 - one bad file must not stop the batch
            pass
        found = {}
        for rel, one in pieces.items():
            try:
                found[rel] = self._call([one])[0]
            except Exception as e:  # noqa: BLE001 - recorded with its reason
                if not isinstance(e, ClientError | OSError):
                    log.warning("indexing %s failed", rel, exc_info=True)
                errors[rel] = _reason(e)
        return found

    def _call(self, pieces: list[Piece]) -> list[np.ndarray]:
        contents = [p.content for p in pieces]
        params = [p.param for p in pieces]
        embedded = embed_contents(
            self.pool, contents, model=self.model_id, timeout_s=self.timeout_s, params=params
        )
        return embedded.vectors

"""Persistence only: search collections of vectors with metadata, the embedding cache, job
records and ingest progress (SearchStore: one SQLite file plus vector index files; see
docs/search-store.md); label sets (label_sets.py) and the fusion model registry
(fusion_models.py) in files beside it. names.py holds the one name check; files are
written through mmserve.files.

May import models/ (shared types), media/ and the leaf modules (config, errors, files);
never flask, batching/, fusion/, services/ or anything above them."""

from mmserve.store.cache import EmbeddingCache
from mmserve.store.ingest import IngestFile, IngestProgress
from mmserve.store.jobs import Job, JobStore
from mmserve.store.records import Collection, Item, ItemInput, Page, SearchHit
from mmserve.store.settings import StoreConfig
from mmserve.store.store import SearchStore

__all__ = [
    "Collection",
    "EmbeddingCache",
    "IngestFile",
    "IngestProgress",
    "Item",
    "ItemInput",
    "Job",
    "JobStore",
    "Page",
    "SearchHit",
    "SearchStore",
    "StoreConfig",
]

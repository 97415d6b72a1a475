"""Persistence for cross-modal search: collections of vectors with metadata, the embedding
cache, job records and ingest progress, in one SQLite file plus vector index files.
Persistence only: no Flask, no models (see docs/search-store.md)."""

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

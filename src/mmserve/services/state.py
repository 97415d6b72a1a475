"""The one typed object holding every subsystem of an app, built once by create_app and kept
in app.extensions["mmserve"]; routes reach it through api.common.services().

Where each subsystem keeps its files under config.data_dir is said here once, so the server
and the CLI open the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mmserve.batching.pool import ModelPool
from mmserve.config import Config
from mmserve.metrics import Metrics
from mmserve.services.fusion import FusionServing
from mmserve.services.security import Security
from mmserve.store import SearchStore
from mmserve.store.fusion_models import FusionRegistry
from mmserve.store.label_sets import LabelSetStore

SEARCH_FOLDER = "search"  # collections, items, the embedding cache, job records
LABEL_SETS_FOLDER = "label-sets"


class JobQueue(Protocol):
    """What the app needs of its background job runner (mmserve.jobs.JobRunner, which sits
    above this layer and so is named here by its behaviour)."""

    def start(self) -> None: ...

    def wake(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Services:
    """Every shared object of one app. Built whole, never filled in later."""

    config: Config
    metrics: Metrics
    pool: ModelPool  # the served models, each behind its batcher
    store: SearchStore  # search collections, the embedding cache, job records
    jobs: JobQueue  # runs the store's queued jobs in a background thread
    label_sets: LabelSetStore  # named label sets for zero-shot classification
    fusion: FusionServing  # the registry's active fusion models and their runners
    security: Security  # keys, authentication, rate limits, usage, collection grants, audit

    def close(self) -> None:
        """Stop what runs, in dependency order: fusion runners, then the job runner (it
        writes to the store), then the store (saving index files with unsaved changes),
        then security (writing pending usage; no request runs any more)."""
        self.fusion.stop()
        self.jobs.stop()
        self.store.close()
        self.security.close()


def open_search_store(config: Config) -> SearchStore:
    return SearchStore(config.data_dir / SEARCH_FOLDER)


def open_label_sets(config: Config) -> LabelSetStore:
    return LabelSetStore(config.data_dir / LABEL_SETS_FOLDER)


def fusion_serving(config: Config, metrics: Metrics) -> FusionServing:
    registry = FusionRegistry(config.data_dir)
    return FusionServing(registry, metrics, config.limits.request_timeout_s)

"""The "index" job: index a folder inside the media root into a collection (see folder.py).

    POST /v1/jobs {"type": "index",
                   "params": {"path": "photos/2021", "collection": "photos", "model": "bridge"}}

`path` is relative to the configured media root (or absolute inside it); anything that
resolves outside it, symlinks included, is refused. The collection is created with `model`
(default: the first served embedding model) when it does not exist. The result is the
folder report: counts, and every file that failed or was skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from mmserve.errors import InvalidRequest, NotFound
from mmserve.jobs.folder import FolderIndexer, FolderReport
from mmserve.jobs.registry import job_type
from mmserve.jobs.runner import JobContext
from mmserve.media import MediaPolicy
from mmserve.media.paths import confined_path
from mmserve.models.base import EMBED_TEXT
from mmserve.services.deidentify import Deidentify
from mmserve.store import SearchStore


class IndexParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: StrictStr = Field(min_length=1, description="Folder, relative to the media root")
    collection: StrictStr = Field(min_length=1)
    model: StrictStr | None = Field(None, description="For a new collection; default: first")
    deidentify: Deidentify  # besides the collection's own (added when the job is made)


def media_policy(config: Any) -> MediaPolicy:
    """The configured media policy (the [media] table): limits, and the media root."""
    policy: MediaPolicy = config.media
    return policy


def folder_in_media_root(path: str, config: Any) -> Path:
    root = media_policy(config).media_root
    if root is None:
        raise InvalidRequest(
            "server-side paths are off: set media_root in the [media] configuration to the "
            "folder jobs may index",
            param="params.path",
            code="media_root_unset",
        )
    resolved = confined_path(
        path,
        [root],
        field="params.path",
        outside="outside the media root; give a folder inside it",
        code="path_outside_media_root",
    )
    if not resolved.is_dir():
        raise NotFound(
            f"params.path {path!r} is not a folder in the media root", param="params.path"
        )
    return resolved


def ensure_collection(store: SearchStore, pool: Any, name: str, model: str | None) -> str:
    """The collection's model; the collection is made first when it does not exist."""
    try:
        existing = store.get_collection(name)
    except NotFound:
        runner = pool.get(model, EMBED_TEXT) if model else pool.default_for(EMBED_TEXT)
        dim = int(runner.model.describe()["dimensions"])
        store.create_collection(name, model=runner.model.id, dim=dim)
        return runner.model.id
    if model is not None and model != existing.model:
        raise InvalidRequest(
            f"collection {name!r} embeds with {existing.model!r}, not {model!r}; omit the "
            "model or index into another collection",
            param="model",
            code="model_mismatch",
        )
    return existing.model


def folder_indexer(config: Any, *args: Any, **kwargs: Any) -> FolderIndexer:
    """A FolderIndexer, or with [ray] configured one whose files are encoded by Ray Data
    (not when deidentifying: the blur and redaction run here, not in Ray's workers)."""
    # Ray is imported only here: without [ray], nothing of Ray is loaded
    if config.ray.enabled and not kwargs.get("deidentify"):
        from mmserve.jobs.ray_folder import RayFolderIndexer

        return RayFolderIndexer(*args, config=config, **kwargs)
    return FolderIndexer(*args, **kwargs)


def _check(params: IndexParams, config: Any) -> None:
    folder_in_media_root(params.path, config)


@job_type("index", params=IndexParams, check=_check)
def index_folder(ctx: JobContext, params: IndexParams) -> dict[str, Any]:
    """Index the text, image and audio files of a folder into a collection; resumable."""
    folder = folder_in_media_root(params.path, ctx.config)
    ensure_collection(ctx.store, ctx.pool, params.collection, params.model)
    indexer = folder_indexer(
        ctx.config,
        ctx.store,
        ctx.pool,
        params.collection,
        folder,
        policy=media_policy(ctx.config),
        timeout_s=ctx.config.limits.request_timeout_s,
        deidentify=tuple(params.deidentify),
    )

    def progress(report: FolderReport) -> None:
        ctx.progress(report.done, report.total)

    return indexer.run(progress).as_dict()

"""Encoding a fusion data set's features with Ray Data: `mmserve fusion train --ray`.

The feature cache stays the single source of truth: this only fills it. For each modality,
the contents the cache lacks are encoded by `FeatureEncoderActor`s (`map_batches` with a
callable class: one frozen registry encoder loaded per actor, `data_concurrency` actors),
through the same `RegistryEncoder.encode` and `decode_file` as the local path, and this
process writes every result into the cache. `encode_table` then runs as always and finds
them there; files that fail to decode are left out here and reported by it, as before.
Media files are read by path on the actors: every node must see them at the same path.
Only imported when Ray is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
import ray.data

from mmserve.cluster import join
from mmserve.config import Config
from mmserve.errors import ClientError
from mmserve.fusion.dataset import Table
from mmserve.fusion.encoders import (
    DEFAULT_ENCODERS,
    ENCODE_BATCH,
    FeatureCache,
    RegistryEncoder,
    decode_file,
)
from mmserve.media import MediaPolicy


def fill_feature_cache(
    table: Table, chosen: Mapping[str, str], cache: FeatureCache, config: Config
) -> int:
    """Encode what the cache lacks for every modality of `table`; return how many."""
    join(config.ray)
    ray.data.DataContext.get_current().enable_progress_bars = False
    ids = {**DEFAULT_ENCODERS, **chosen}
    encoded = 0
    for modality in table.modalities:
        todo = _missing(table, modality, ids[modality], cache)
        if todo:
            encoded += _encode(modality, ids[modality], todo, cache, config)
    return encoded


def _missing(table: Table, modality: str, encoder_id: str, cache: FeatureCache) -> dict[str, str]:
    """Cache key -> the text, or the media file's path, of contents not cached yet."""
    todo: dict[str, str] = {}
    for row in table.rows:
        value = row.inputs.get(modality)
        if value is None:
            continue
        try:
            content = value.read_bytes() if isinstance(value, Path) else str(value).encode()
        except OSError:
            continue  # encode_table reports it
        key = FeatureCache.key(content)
        if key not in todo and not cache.path(encoder_id, key).exists():
            todo[key] = str(value)
    return todo


def _encode(
    modality: str, encoder_id: str, todo: dict[str, str], cache: FeatureCache, config: Config
) -> int:
    settings = config.ray.for_model(encoder_id)
    items = [{"key": key, "value": value} for key, value in todo.items()]
    dataset = ray.data.from_items(items).map_batches(
        FeatureEncoderActor,
        fn_constructor_args=(modality, encoder_id, config.media),
        batch_size=ENCODE_BATCH,
        compute=ray.data.ActorPoolStrategy(size=config.ray.data_concurrency),
        num_cpus=settings.num_cpus,
        num_gpus=settings.num_gpus or None,
        batch_format="pandas",
    )
    written = 0
    for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
        for key, features in zip(batch["key"], batch["features"], strict=True):
            if len(features):  # empty: did not decode; encode_table says why
                cache.put(encoder_id, key, np.asarray(features, np.float32)[None, :])
                written += 1
    return written


class FeatureEncoderActor:
    """A Ray Data actor: one loaded registry encoder; rows {key, value} -> {key, features}."""

    def __init__(self, modality: str, encoder_id: str, policy: MediaPolicy):
        self.modality = modality
        self.policy = policy
        self.encoder = RegistryEncoder(modality, encoder_id).load()

    def __call__(self, batch: Any) -> Any:
        decoded: dict[int, Any] = {}
        for i, value in enumerate(batch["value"]):
            try:
                decoded[i] = self._decode(value)
            except (OSError, ClientError):
                continue
        found = dict(zip(decoded, self.encoder.encode(list(decoded.values())), strict=True))
        features = [found[i][0].tolist() if i in found else [] for i in range(len(batch))]
        return pd.DataFrame({"key": list(batch["key"]), "features": features})

    def _decode(self, value: str) -> Any:
        if self.modality == "text":
            return value
        path = Path(value)
        return decode_file(self.modality, path, path.read_bytes(), self.policy)

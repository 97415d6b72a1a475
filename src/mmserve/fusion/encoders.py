"""Frozen registry encoders as fusion feature encoders, and the on-disk feature cache.

One loading path: every encoder is `models.registry.create_model(id, id)`, the same object
the server batches. What a modality's features are:

    text   minilm (or any text embedder): the pooled, L2-normalised sentence vector (1, 384)
    image  efficientnet-lite0 `features(images)`: pooled penultimate layer (1, 1280)
    audio  yamnet `features(waveforms)`: the 1024-d embedding averaged over 0.96 s patches

Training and serving both go through `RegistryEncoder.encode`, so a served model sees the
features it learnt on. Features are cached by content hash (the text's UTF-8 bytes, the
media file's bytes) under `<data_dir>/fusion/features/<encoder>/<hh>/<hash>.npy`, so a
second training run over the same data encodes nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import ClientError, ConfigError
from mmserve.files import write_atomically
from mmserve.fusion.data import FeatureDataset, Split
from mmserve.fusion.dataset import BadRow, Row, Table
from mmserve.fusion.features import ModalitySpec, collate
from mmserve.media import SAMPLE_RATE, MediaPolicy, decode_audio, decode_image
from mmserve.models.base import Waveform

DEFAULT_ENCODERS = {"text": "minilm", "image": "efficientnet-lite0", "audio": "yamnet"}
RECIPE = "1"  # bump when what a cached feature means changes (pooling, preprocessing)
ENCODE_BATCH = 32  # items per encoder call while building a data set


class RegistryEncoder:
    """A registry model seen as a FeatureEncoder: decoded items in, (1, dim) arrays out."""

    def __init__(self, modality: str, encoder_id: str, model: Any = None):
        from mmserve.models.registry import create_model

        self.modality = modality
        self.encoder_id = encoder_id
        self.model = model or create_model(encoder_id, encoder_id)
        self.calls = 0  # items encoded (tests count cache misses with it)
        self._loaded = model is not None
        self._lock = threading.Lock()

    def load(self) -> RegistryEncoder:
        with self._lock:
            if not self._loaded:
                self.model.load()
                self._loaded = True
        return self

    def encode(self, items: Sequence[Any]) -> list[np.ndarray]:
        """str (text), RGB PIL image or Waveform (audio) -> one (1, dim) float32 each."""
        self.load()
        self.calls += len(items)
        if not items:
            return []
        if hasattr(self.model, "features"):  # image and audio classifiers' pooled features
            out = np.asarray(self.model.features(list(items)), np.float32)
        else:  # an embedder: its own preprocess + forward
            batch = [self.model.preprocess(item) for item in items]
            out = np.asarray(self.model.forward(batch), np.float32)
        return [row[None, :] for row in out]

    def spec(self, dim: int) -> ModalitySpec:
        return ModalitySpec(dim=dim, max_tokens=1, encoder=self.encoder_id)


class EncoderSet:
    """Encoders by id, each built and loaded once per process and shared (by serving models
    of several fusion models, and by training runs)."""

    def __init__(self) -> None:
        self._encoders: dict[tuple[str, str], RegistryEncoder] = {}
        self._lock = threading.Lock()

    def get(self, modality: str, encoder_id: str) -> RegistryEncoder:
        with self._lock:
            key = (modality, encoder_id)
            if key not in self._encoders:
                self._encoders[key] = RegistryEncoder(modality, encoder_id)
        return self._encoders[key].load()


class FeatureCache:
    """One .npy per (encoder, content); written atomically, so concurrent runs are safe."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(content: bytes) -> str:
        return hashlib.sha256(RECIPE.encode() + b"\0" + content).hexdigest()

    def path(self, encoder_id: str, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder_id)
        return self.root / safe / key[:2] / f"{key}.npy"

    def get(self, encoder_id: str, key: str) -> np.ndarray | None:
        try:
            found = np.load(self.path(encoder_id, key), allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put(self, encoder_id: str, key: str, features: np.ndarray) -> None:
        array = np.asarray(features, np.float32)
        write_atomically(self.path(encoder_id, key), lambda file: np.save(file, array))


def feature_cache_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "fusion" / "features"


def decode_file(modality: str, path: Path, data: bytes, policy: MediaPolicy) -> Any:
    """A media file's bytes as the encoder takes it (ClientError if it does not decode)."""
    if modality == "image":
        return decode_image(data, policy=policy, field=path.name)
    samples = decode_audio(data, policy=policy, field=path.name, sample_rate=SAMPLE_RATE)
    return Waveform(samples, SAMPLE_RATE)


def encode_table(
    table: Table,
    encoders: Mapping[str, RegistryEncoder],
    cache: FeatureCache,
    *,
    policy: MediaPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[FeatureDataset, Split | None]:
    """Features for every row (from the cache, or encoded and cached); rows whose media do
    not decode go to table.report.bad and are dropped from the table. Returns the data set
    and, when every row names its split, that split."""
    rows, specs = encode_rows(table, encoders, cache, policy=policy, progress=progress)
    dataset = FeatureDataset(collate(rows, specs), table_targets(table), specs, table.targets)
    return dataset, given_split(table.rows)


def table_targets(table: Table) -> dict[str, np.ndarray]:
    """target -> (rows,) class indices (int64) or values (float32) of the table's rows."""
    values = table.target_values()
    return {
        t.name: np.asarray(values[t.name], np.int64 if t.classes else np.float32)
        for t in table.targets
    }


def encode_rows(
    table: Table,
    encoders: Mapping[str, RegistryEncoder],
    cache: FeatureCache,
    *,
    policy: MediaPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict[str, np.ndarray]], dict[str, ModalitySpec]]:
    """The features of each kept row ({modality: (1, dim)}, absent modalities left out) and
    each modality's spec; rows whose media do not decode are moved to table.report.bad.
    What encode_table collates, and what alignment and pretraining use without targets."""
    policy = policy or MediaPolicy()
    modalities = [m for m in table.modalities if m in encoders]
    features: dict[int, dict[str, np.ndarray]] = {i: {} for i in range(len(table.rows))}
    failed: dict[int, str] = {}
    done, total = 0, len(table.rows) * len(modalities)
    for modality in modalities:
        encoder = encoders[modality]
        for start in range(0, len(table.rows), ENCODE_BATCH):
            chunk = range(start, min(start + ENCODE_BATCH, len(table.rows)))
            _encode_chunk(table.rows, chunk, modality, encoder, cache, policy, features, failed)
            done += len(chunk)
            if progress:
                progress(done, total)
    for i, reason in failed.items():
        table.report.bad.append(BadRow(table.rows[i].line, reason))
    table.report.bad.sort(key=lambda b: b.line)
    keep = [i for i in range(len(table.rows)) if i not in failed]
    table.rows = [table.rows[i] for i in keep]
    specs = {}
    for m in modalities:
        dims = {f[m].shape[-1] for f in features.values() if m in f}
        if not dims:
            table.report.notes.append(f"no row has {m}; the model is trained without it")
            continue
        specs[m] = encoders[m].spec(dims.pop())
    if not specs:
        raise ConfigError(f"{table.path}: no row has any usable input")
    return [features[i] for i in keep], specs


def _encode_chunk(
    rows: list[Row],
    chunk: range,
    modality: str,
    encoder: RegistryEncoder,
    cache: FeatureCache,
    policy: MediaPolicy,
    features: dict[int, dict[str, np.ndarray]],
    failed: dict[int, str],
) -> None:
    todo: dict[str, tuple[list[int], Any]] = {}  # key -> (rows, decoded item): one encoding
    for i in chunk:
        value = rows[i].inputs.get(modality)
        if value is None or i in failed:
            continue
        try:
            content = value.read_bytes() if isinstance(value, Path) else str(value).encode()
        except OSError as e:
            failed[i] = f"{modality} file {str(value)!r} cannot be read: {e.strerror}"
            continue
        key = FeatureCache.key(content)
        if key in todo:  # the same content twice in one chunk
            todo[key][0].append(i)
            continue
        cached = cache.get(encoder.encoder_id, key)
        if cached is not None:
            features[i][modality] = cached
            continue
        try:
            item = (
                decode_file(modality, value, content, policy) if isinstance(value, Path) else value
            )
        except ClientError as e:
            failed[i] = f"{modality} file {value.name!r}: {e.message}"
            continue
        todo[key] = ([i], item)
    if not todo:
        return
    encoded = encoder.encode([item for _, item in todo.values()])
    for (key, (rows_of_key, _)), feats in zip(todo.items(), encoded, strict=True):
        cache.put(encoder.encoder_id, key, feats)
        for i in rows_of_key:
            features[i][modality] = feats


def given_split(rows: list[Row]) -> Split | None:
    if not rows or any(r.split is None for r in rows):
        return None
    parts = {
        k: np.asarray([i for i, r in enumerate(rows) if r.split == k], np.int64)
        for k in ("train", "val", "test")
    }
    if not all(len(p) for p in parts.values()):
        raise ConfigError("the split column must give train, val and test rows (each at least one)")
    return Split(parts["train"], parts["val"], parts["test"])


def encoders_for(
    table: Table,
    chosen: Mapping[str, str] | None = None,
    shared: EncoderSet | None = None,
    *,
    skip: Collection[str] = (),
) -> dict[str, RegistryEncoder]:
    """modality -> loaded encoder for each modality column of the table but `skip`."""
    ids = {**DEFAULT_ENCODERS, **(chosen or {})}
    shared = shared or EncoderSet()
    return {m: shared.get(m, ids[m]) for m in table.modalities if m not in skip}

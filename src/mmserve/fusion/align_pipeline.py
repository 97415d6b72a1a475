"""From a pairs file to a trained, reported aligned model: what `mmserve align` and the
`align` job both run.

    load_pairs(PairOptions)    read + check the file (fusion data reader, no targets),
                               features from the cache or the frozen encoders
    align_model(pairs, out)    train the heads, evaluate on the held-out rows, write the
                               artifact dir (fusion/aligned.py) with report/ inside it
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmserve.fusion.align import (
    AlignConfig,
    AlignEpoch,
    AlignResult,
    AlignTrainConfig,
    PairData,
    check_pairs,
    embed_all,
    retrieval_metrics,
    train_align,
)
from mmserve.fusion.dataset import Table, read_table
from mmserve.fusion.encoders import (
    EncoderSet,
    FeatureCache,
    encode_rows,
    encoders_for,
    feature_cache_dir,
)
from mmserve.media import MediaPolicy

REPORT_DIR = "report"


@dataclass(frozen=True, kw_only=True)
class PairOptions:
    path: Path
    data_dir: Path  # the feature cache lives under it
    columns: Mapping[str, str] = field(default_factory=dict)  # modality -> column name
    encoders: Mapping[str, str] = field(default_factory=dict)  # modality -> registry id


@dataclass
class LoadedPairs:
    data: PairData
    table: Table
    cache: FeatureCache
    encoders: dict[str, str]  # modality -> registry id

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = self.table.report.as_dict()
        out["features"] = {"cached": self.cache.hits, "encoded": self.cache.misses}
        out["pairs"] = self.data.pair_counts()
        return out


@dataclass
class AlignOutcome:
    artifact: Path
    report_json: Path
    report_html: Path
    test: dict[str, Any]
    result: AlignResult


def load_pairs(
    options: PairOptions,
    *,
    encoder_set: EncoderSet | None = None,
    policy: MediaPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LoadedPairs:
    """Rows with two modalities or more; ConfigError (before any training) if too few."""
    table = read_table(options.path, (), columns=options.columns, need_targets=False)
    encoders = encoders_for(table, options.encoders, encoder_set)
    cache = FeatureCache(feature_cache_dir(options.data_dir))
    rows, specs = encode_rows(table, encoders, cache, policy=policy, progress=progress)
    data = PairData.from_rows(rows, {m: s.dim for m, s in specs.items()})
    loaded = LoadedPairs(data, table, cache, {m: s.encoder for m, s in specs.items()})
    AlignConfig(dims={m: s.dim for m, s in specs.items()})  # two modalities at least
    check_pairs(data)
    return loaded


def align_model(
    pairs: LoadedPairs,
    out: str | Path,
    *,
    options: Mapping[str, Any] | None = None,
    train_config: AlignTrainConfig | None = None,
    on_epoch: Callable[[AlignEpoch], None] | None = None,
    overwrite: bool = False,
) -> AlignOutcome:
    from mmserve.fusion.align_report import write_align_report
    from mmserve.fusion.aligned import save_aligned

    tc = train_config or AlignTrainConfig()
    dims = {m: int(f.shape[1]) for m, f in pairs.data.features.items()}
    config = AlignConfig(dims=dims, **dict(options or {}))
    result = train_align(pairs.data, config, tc, on_epoch=on_epoch)
    test_data = pairs.data.take(result.split.test)
    vectors = embed_all(result.model, test_data)
    test = retrieval_metrics(vectors, test_data)
    training = {
        **result.summary(),
        "data": str(pairs.table.path),
        "split": {k: len(v) for k, v in result.split.to_dict().items()},
        "train_config": asdict(tc),
    }
    out = save_aligned(
        out, result.model, pairs.encoders, metrics=test, training=training, overwrite=overwrite
    )
    texts = [pairs.table.rows[i].inputs.get("text") for i in result.split.test]
    report = {
        "format": "mmserve-align-report/1",
        "model": config.to_dict(),
        "encoders": pairs.encoders,
        "training": training,
        "test": test,
        "data": pairs.report(),
    }
    files = write_align_report(report, vectors, test_data, texts, out / REPORT_DIR)
    return AlignOutcome(out, files.json, files.html, test, result)

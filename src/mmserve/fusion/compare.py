"""Every strategy, and a single-modality baseline per modality, trained and tested on the
same split: the table that says whether fusion earns its cost on your data."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mmserve.fusion.data import CLASSIFICATION, FeatureDataset, Split
from mmserve.fusion.layers import TrunkConfig
from mmserve.fusion.model import FusionConfig
from mmserve.fusion.strategies import STRATEGIES
from mmserve.fusion.train import TrainConfig, TrainResult, default_split, evaluate, train


@dataclass
class Comparison:
    rows: list[dict[str, Any]]  # one per run, JSON-ready
    results: dict[str, TrainResult] = field(default_factory=dict, repr=False)

    def columns(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns(), "rows": self.rows}

    def to_markdown(self) -> str:
        cols = self.columns()
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_cell(row[c]) for c in cols) + " |" for row in self.rows]
        return "\n".join(lines)


def compare(
    dataset: FeatureDataset,
    strategies: Iterable[str] | None = None,
    *,
    train_config: TrainConfig | None = None,
    options: Mapping[str, Any] | None = None,
    trunk: TrunkConfig | None = None,
    baselines: bool = True,
    baseline_strategy: str = "early",
    split: Split | None = None,
) -> Comparison:
    """Train each strategy (all of them by default) on all modalities, then, with
    `baselines`, `baseline_strategy` on each modality alone; all on one split: `split`
    (row indices, e.g. from a split column) or the seeded one.

    `options` are strategy settings shared by all runs (e.g. {"hidden": 64}); each strategy
    takes those of its config's fields it has.
    """
    tc = train_config or TrainConfig()
    split = split or default_split(dataset, tc)
    test = dataset.take(split.test)
    runs = [(name, name, dataset) for name in (strategies or STRATEGIES)]
    if baselines:
        runs += [(f"{m} only", baseline_strategy, dataset.select([m])) for m in dataset.specs]
    comparison = Comparison(rows=[])
    for label, strategy, data in runs:
        config = FusionConfig.for_dataset(
            data,
            strategy,
            options=_options_for(strategy, options or {}),
            trunk=trunk or TrunkConfig(),
        )
        result = train(data, config, tc, split=split)
        comparison.results[label] = result
        metrics = evaluate(result.model, test.select(data.specs))
        comparison.rows.append(_row(label, result, metrics))
    return comparison


def _row(label: str, result: TrainResult, metrics: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run": label,
        "strategy": result.config.strategy,
        "modalities": "+".join(result.model.modalities),
        "parameters": result.model.n_parameters(),
        "epochs": len(result.history),
        "seconds": round(result.seconds, 2),
    }
    for t in result.config.targets:
        m = metrics[t.name]
        if t.kind == CLASSIFICATION:
            row |= {f"{t.name} accuracy": m["accuracy"], f"{t.name} macro F1": m["macro_f1"]}
            row[f"{t.name} AUC"] = m["macro_auc"]
        else:
            row |= {f"{t.name} R2": m["r2"], f"{t.name} MAE": m["mae"]}
    return row


def _options_for(strategy: str, options: Mapping[str, Any]) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(STRATEGIES[strategy].config)}
    return {k: v for k, v in options.items() if k in fields}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)

"""The strategy registry: name -> (config dataclass, module), so `--strategy attention` and
a saved model's config.json both pick a strategy by name. A plain dict, filled here, in one
place: adding a strategy is one line and nothing depends on import order."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from mmserve.errors import ConfigError
from mmserve.fusion.attention import (
    AttentionConfig,
    AttentionFusion,
    CrossAttentionConfig,
    CrossAttentionFusion,
)
from mmserve.fusion.late import LateConfig, LateFusion
from mmserve.fusion.pooled import (
    EarlyConfig,
    EarlyFusion,
    GatedConfig,
    GatedFusion,
    MeanConfig,
    MeanFusion,
    WeightedConfig,
    WeightedFusion,
)


@dataclass(frozen=True)
class Strategy:
    config: type  # a frozen dataclass of the strategy's settings
    module: type[nn.Module]
    description: str
    late: bool = False  # fuses per-modality outputs rather than representations


STRATEGIES: dict[str, Strategy] = {
    "early": Strategy(EarlyConfig, EarlyFusion, "concatenate pooled features -> MLP"),
    "mean": Strategy(MeanConfig, MeanFusion, "mean of projected modality vectors"),
    "weighted": Strategy(WeightedConfig, WeightedFusion, "learned weighted sum of modalities"),
    "gated": Strategy(GatedConfig, GatedFusion, "per-modality gates computed from the input"),
    "attention": Strategy(AttentionConfig, AttentionFusion, "transformer over all modality tokens"),
    "cross_attention": Strategy(
        CrossAttentionConfig, CrossAttentionFusion, "tokens of one modality attend to others'"
    ),
    "late": Strategy(
        LateConfig, LateFusion, "a model per modality, outputs mixed by weights", True
    ),
}


def list_strategies() -> dict[str, str]:
    return {name: s.description for name, s in STRATEGIES.items()}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown fusion strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        ) from None


def strategy_config(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The strategy's config dataclass built from `options`; unknown keys name the known."""
    cls = get_strategy(name).config
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options or {}) - fields)
    if unknown:
        raise ConfigError(
            f"strategy {name!r} has no option {', '.join(unknown)}; "
            f"it has {', '.join(sorted(fields))}"
        )
    values = dict(options or {})
    if "queries" in values:  # JSON gives lists; the dataclass keeps tuples
        values["queries"] = tuple(values["queries"])
    config = cls(**values)
    _check(name, config)
    return config


def _check(name: str, config: Any) -> None:
    """Every strategy's sizes are counts (>= 1) and its dropout a probability."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "dropout" and not 0 <= value < 1:
            raise ConfigError(f"strategy {name!r}: dropout = {value}; use 0 <= dropout < 1")
        if isinstance(value, int) and f.name != "dropout" and value < 1:
            raise ConfigError(f"strategy {name!r}: {f.name} = {value}; use 1 or more")
    heads = getattr(config, "heads", 1)
    if config.hidden % heads:
        raise ConfigError(
            f"strategy {name!r}: hidden ({config.hidden}) must be a multiple of heads ({heads})"
        )

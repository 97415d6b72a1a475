"""Contrastive alignment (CLIP's recipe on frozen features): one projection head per
modality into a shared d-dim space, trained with a symmetric InfoNCE loss over in-batch
negatives and a learnable temperature; early stopping on held-out recall.

    features (per modality, pooled)       head (per modality)                     shared space
    text  (B, 384)  ─► LayerNorm ─► Linear ─► GELU ─► Linear ─► L2 ─► (B, d) ┐
    image (B, 1280) ─► ...                                       (B, d) ├─► cosines x scale
    audio (B, 1024) ─► ...                                       (B, d) ┘    = logits (B, B)

Every pair of modalities a batch has (text-image, text-audio, image-audio) adds its loss over
the rows that have both; a row with one modality missing still trains the other pairs.
The GELU is the tanh form so the numpy forward the server runs (fusion/aligned.py) is exact.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from mmserve.errors import ConfigError
from mmserve.fusion.align_mining import mine_negatives, mined_pair_loss
from mmserve.fusion.data import Split, make_split
from mmserve.fusion.early_stop import KeepBest

RECALL_AT = (1, 5, 10)
MAX_LOGIT_SCALE = 100.0  # CLIP's clamp: a temperature below 0.01 only destabilises training
MIN_PAIRS = 10  # fewer than this and a held-out recall means nothing


@dataclass(frozen=True, kw_only=True)
class AlignConfig:
    dims: Mapping[str, int]  # modality -> input feature width
    dim: int = 256  # the shared space
    hidden: int = 512  # each head's hidden width; 0: a single linear map
    dropout: float = 0.1
    temperature: float = 0.07  # initial; learnt as log(1 / temperature)

    def __post_init__(self) -> None:
        if len(self.dims) < 2:
            raise ConfigError(f"alignment needs two modalities or more; have {list(self.dims)}")
        if not 2 <= self.dim <= 4096:
            raise ConfigError(f"dim must be in [2, 4096], not {self.dim}")
        if not 0 < self.temperature <= 1:
            raise ConfigError(f"temperature must be in (0, 1], not {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"dims": dict(self.dims)}


@dataclass(frozen=True, kw_only=True)
class AlignTrainConfig:
    epochs: int = 200  # at most; early stopping on validation recall usually ends sooner
    batch_size: int = 128  # in-batch negatives: larger batches, harder negatives
    # Hard negatives (Robinson et al. 2021): each in-batch negative weighted by
    # exp(beta * cosine) / its mean over the row's negatives; 0 weighs them all alike.
    hard_negatives: float = 0.0
    # Mined hard negatives (fusion/align_mining.py): each row's K nearest non-partners in
    # the whole training set, found again every epoch with the current heads; 0: off.
    mine_negatives: int = 0
    lr: float = 1e-3
    weight_decay: float = 0.1
    patience: int = 15
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if not 0 <= self.hard_negatives <= 20:
            raise ConfigError(f"hard_negatives must be in [0, 20], not {self.hard_negatives}")
        if not 0 <= self.mine_negatives <= 64:
            raise ConfigError(f"mine_negatives must be in [0, 64], not {self.mine_negatives}")
        if self.mine_negatives and self.hard_negatives:
            raise ConfigError("use hard_negatives (in-batch weights) or mine_negatives, not both")


@dataclass(frozen=True)
class PairData:
    """Pooled features of each row: modality -> (rows, dim) float32 (zeros where absent)
    and modality -> (rows,) bool present."""

    features: dict[str, np.ndarray]
    present: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.present.values())))

    @classmethod
    def from_rows(cls, rows: list[dict[str, np.ndarray]], dims: Mapping[str, int]) -> PairData:
        features = {m: np.zeros((len(rows), d), np.float32) for m, d in dims.items()}
        present = {m: np.zeros(len(rows), bool) for m in dims}
        for i, row in enumerate(rows):
            for m, value in row.items():
                if m in dims:
                    features[m][i] = np.asarray(value, np.float32).reshape(-1, dims[m]).mean(0)
                    present[m][i] = True
        return cls(features, present)

    def take(self, index: np.ndarray) -> PairData:
        return PairData(
            {m: f[index] for m, f in self.features.items()},
            {m: p[index] for m, p in self.present.items()},
        )

    def pairs(self) -> list[tuple[str, str]]:
        return list(itertools.combinations(list(self.features), 2))

    def pair_counts(self) -> dict[str, int]:
        return {f"{a}-{b}": int((self.present[a] & self.present[b]).sum()) for a, b in self.pairs()}


def check_pairs(data: PairData) -> None:
    """A clear error before training when there is nothing to align."""
    counts = data.pair_counts()
    if not counts or max(counts.values()) < MIN_PAIRS * 4:
        raise ConfigError(
            f"too few pairs to align: rows with both modalities {counts}; need at least "
            f"{MIN_PAIRS * 4} for one pair of modalities (train, validation and test)"
        )


class Head(nn.Module):
    def __init__(self, in_dim: int, config: AlignConfig):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)  # encoders' features differ wildly in scale
        if config.hidden:
            self.body: nn.Module = nn.Sequential(
                nn.Linear(in_dim, config.hidden),
                nn.GELU(approximate="tanh"),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, config.dim),
            )
        else:
            self.body = nn.Linear(in_dim, config.dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.body(self.norm(x)), dim=-1)  # (batch, dim), unit length


class AlignModel(nn.Module):
    def __init__(self, config: AlignConfig):
        super().__init__()
        self.config = config
        self.heads = nn.ModuleDict({m: Head(d, config) for m, d in config.dims.items()})
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / config.temperature)))

    def embed(self, modality: str, x: Tensor) -> Tensor:
        return self.heads[modality](x)

    def scale(self) -> Tensor:
        return self.logit_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp()

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def info_nce(za: Tensor, zb: Tensor, scale: Tensor, hard: float = 0.0) -> Tensor:
    """Symmetric InfoNCE: row i of `za` against every row of `zb` (the true partner is i),
    and the other way round; `hard` > 0 weighs the more similar negatives more."""
    sims = za @ zb.T  # (batch, batch) cosines
    logits = scale * sims
    target = torch.arange(len(za))
    if hard:
        return (
            F.cross_entropy(logits + _log_weights(sims, hard), target)
            + F.cross_entropy(logits.T + _log_weights(sims.T, hard), target)
        ) / 2
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _log_weights(sims: Tensor, beta: float) -> Tensor:
    """log of each negative's importance weight exp(beta * s) / mean over the row's
    negatives (a constant: no gradient through the weights); 0 for the positive."""
    n = len(sims)
    own = torch.eye(n, dtype=torch.bool)
    scaled = (beta * sims).detach()
    mean = torch.logsumexp(scaled.masked_fill(own, -torch.inf), 1, keepdim=True) - math.log(n - 1)
    return (scaled - mean).masked_fill(own, 0.0)


def pair_loss(
    model: AlignModel,
    feats: Mapping[str, Tensor],
    present: Mapping[str, Tensor],
    hard: float = 0.0,
) -> Tensor | None:
    """Mean InfoNCE over the modality pairs, each over the rows that have both (weighted by
    those rows); None when no pair has two rows."""
    total, weight = torch.zeros(()), 0
    for a, b in itertools.combinations(list(feats), 2):
        both = present[a] & present[b]
        n = int(both.sum())
        if n < 2:
            continue
        za, zb = model.embed(a, feats[a][both]), model.embed(b, feats[b][both])
        total = total + n * info_nce(za, zb, model.scale(), hard)
        weight += n
    return total / weight if weight else None


@torch.no_grad()
def embed_all(model: AlignModel, data: PairData) -> dict[str, np.ndarray]:
    model.eval()
    return {m: model.embed(m, torch.from_numpy(f)).numpy() for m, f in data.features.items()}


def recall_at(sims: np.ndarray, ks: tuple[int, ...] = RECALL_AT) -> dict[str, float]:
    """(queries, items) similarities, the right item of query i being item i -> recall@k:
    the share of queries whose right item ranks in the top k (ties counted in its favour)."""
    right = np.diagonal(sims)[:, None]
    rank = (sims > right).sum(axis=1)  # items strictly better than the right one
    return {f"R@{k}": float((rank < k).mean()) for k in ks}


def retrieval_metrics(vectors: Mapping[str, np.ndarray], data: PairData) -> dict[str, Any]:
    """'a->b' -> {R@1, R@5, R@10, n} for every ordered pair of modalities, over the rows
    that have both; 'mean_R@1' etc. over all directions."""
    out: dict[str, Any] = {}
    for a, b in data.pairs():
        both = data.present[a] & data.present[b]
        if both.sum() < 2:
            continue
        sims = vectors[a][both] @ vectors[b][both].T
        out[f"{a}->{b}"] = recall_at(sims) | {"n": int(both.sum())}
        out[f"{b}->{a}"] = recall_at(sims.T) | {"n": int(both.sum())}
    directions = [v for v in out.values()]
    for k in RECALL_AT:
        out[f"mean_R@{k}"] = float(np.mean([v[f"R@{k}"] for v in directions]))
    return out


def recall_score(metrics: Mapping[str, Any]) -> float:
    """What early stopping watches: mean of R@1, R@5 and R@10 over all directions (R@1
    alone is too jumpy on a small validation set)."""
    return float(np.mean([metrics[f"mean_R@{k}"] for k in RECALL_AT]))


@dataclass(frozen=True)
class AlignEpoch:
    epoch: int
    train_loss: float
    val_loss: float
    val_score: float  # recall_score on the validation rows
    temperature: float


@dataclass
class AlignResult:
    model: AlignModel
    config: AlignConfig
    train_config: AlignTrainConfig
    split: Split
    history: list[AlignEpoch] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "parameters": self.model.n_parameters(),
            "epochs": len(self.history),
            "best_epoch": self.best_epoch,
            "temperature": round(1 / self.model.scale().item(), 5),
            "seconds": round(self.seconds, 3),
            "history": [asdict(h) for h in self.history],
        }


def pair_split(data: PairData, tc: AlignTrainConfig) -> Split:
    return make_split(
        len(data), val_fraction=tc.val_fraction, test_fraction=tc.test_fraction, seed=tc.seed
    )


def train_align(
    data: PairData,
    config: AlignConfig,
    tc: AlignTrainConfig | None = None,
    *,
    split: Split | None = None,
    on_epoch: Callable[[AlignEpoch], None] | None = None,
) -> AlignResult:
    """Train the heads; the weights of the epoch with the best validation recall are kept.
    `on_epoch` sees each epoch's log (job progress; it may raise to stop the run)."""
    tc = tc or AlignTrainConfig()
    check_pairs(data)
    split = split or pair_split(data, tc)
    torch.manual_seed(tc.seed)
    model = AlignModel(config)
    feats = {m: torch.from_numpy(f) for m, f in data.features.items()}
    present = {m: torch.from_numpy(p) for m, p in data.present.items()}
    val = data.take(split.val)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    shuffle = torch.Generator().manual_seed(tc.seed)
    result = AlignResult(model, config, tc, split)
    keeper = KeepBest(model, tc.patience)
    started = time.perf_counter()
    bar = tqdm(range(1, tc.epochs + 1), desc="align", disable=not tc.progress, leave=False)
    for epoch in bar:
        mined = (
            mine_negatives(model, feats, present, split.train, tc.mine_negatives)
            if tc.mine_negatives
            else None
        )
        loss = _epoch(model, feats, present, split.train, optimizer, shuffle, tc, mined)
        val_loss, score = _validate(model, val)
        log = AlignEpoch(epoch, loss, val_loss, score, round(1 / model.scale().item(), 5))
        result.history.append(log)
        if on_epoch is not None:
            on_epoch(log)
        bar.set_postfix(loss=f"{loss:.3f}", val_loss=f"{val_loss:.3f}", recall=f"{score:.3f}")
        if keeper.update(epoch, score):
            break
    bar.close()
    result.best_epoch = keeper.best_epoch
    keeper.restore()
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def _epoch(model, feats, present, rows, optimizer, shuffle, tc, mined) -> float:
    model.train()
    order = torch.from_numpy(rows)[torch.randperm(len(rows), generator=shuffle)]
    total, seen = 0.0, 0
    for start in range(0, len(order), tc.batch_size):
        index = order[start : start + tc.batch_size]
        if mined is not None:
            loss = mined_pair_loss(model, feats, present, index, mined)
        else:
            batch = {m: f[index] for m, f in feats.items()}
            here = {m: p[index] for m, p in present.items()}
            loss = pair_loss(model, batch, here, tc.hard_negatives)
        if loss is None:
            continue
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
        seen += len(index)
    return total / max(seen, 1)


@torch.no_grad()
def _validate(model: AlignModel, val: PairData) -> tuple[float, float]:
    model.eval()
    feats = {m: torch.from_numpy(f) for m, f in val.features.items()}
    present = {m: torch.from_numpy(p) for m, p in val.present.items()}
    loss = pair_loss(model, feats, present)
    metrics = retrieval_metrics(embed_all(model, val), val)
    return (float(loss) if loss is not None else float("nan")), recall_score(metrics)

"""Attention over modality tokens: a small transformer (self-attention across all tokens of
all modalities), and cross-attention from one modality's tokens to the others'.

Written out rather than taken from nn.TransformerEncoder so that the masking is visible, the
graph exports to ONNX as plain MatMul/Softmax, and no fast path swaps in nested tensors
behind our back. Absent modalities and padding are masked out as keys; token features carry
no position embedding because the encoders that made them already encoded order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.features import ModalitySpec
from mmserve.fusion.layers import Fusion, Projection, masked_mean, masked_softmax, mlp


class Attention(nn.Module):
    """Multi-head attention of queries over keys, with a key mask."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.kv = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, context: Tensor, key_mask: Tensor) -> Tensor:
        b, n_q, hidden = x.shape  # (batch, queries, hidden)
        n_k = context.shape[1]  # context: (batch, keys, hidden), key_mask: (batch, keys)
        head = hidden // self.heads
        q = self.q(x).view(b, n_q, self.heads, head).transpose(1, 2)  # (b, heads, n_q, head)
        kv = self.kv(context).view(b, n_k, 2, self.heads, head).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)  # (b, heads, n_k, head) each
        scores = q @ k.transpose(-2, -1) / head**0.5  # (b, heads, n_q, n_k)
        weights = masked_softmax(scores, key_mask[:, None, None, :], dim=-1)
        y = (self.dropout(weights) @ v).transpose(1, 2).reshape(b, n_q, hidden)
        return self.out(y)  # (batch, queries, hidden)


class Block(nn.Module):
    """Pre-norm transformer block (as in nanoGPT): self-attention, or cross-attention to a
    `context` when built with cross=True."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: int, dropout: float, cross: bool):
        super().__init__()
        self.norm_q = nn.LayerNorm(hidden)
        self.norm_kv = nn.LayerNorm(hidden) if cross else None
        self.attn = Attention(hidden, heads, dropout)
        self.norm_mlp = nn.LayerNorm(hidden)
        inner = mlp_ratio * hidden
        self.mlp = nn.Sequential(mlp([hidden, inner], dropout), nn.Linear(inner, hidden))

    def forward(self, x: Tensor, key_mask: Tensor, context: Tensor | None = None) -> Tensor:
        q = self.norm_q(x)
        kv = q if self.norm_kv is None or context is None else self.norm_kv(context)
        x = x + self.attn(q, kv, key_mask)
        return x + self.mlp(self.norm_mlp(x))


class Blocks(nn.Module):
    """`layers` blocks in a row."""

    def __init__(self, config: AttentionConfig | CrossAttentionConfig, cross: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            Block(config.hidden, config.heads, config.mlp_ratio, config.dropout, cross)
            for _ in range(config.layers)
        )

    def forward(self, x: Tensor, key_mask: Tensor, context: Tensor | None = None) -> Tensor:
        for block in self.blocks:
            x = block(x, key_mask, context)
        return x


class TokenProjections(nn.Module):
    """Each modality's tokens -> shared width, plus a learned embedding saying which
    modality a token came from (the only thing that tells them apart after projection)."""

    def __init__(self, specs: Mapping[str, ModalitySpec], hidden: int):
        super().__init__()
        self.modalities = list(specs)
        self.proj = nn.ModuleDict({m: Projection(s.dim, hidden) for m, s in specs.items()})
        self.kind = nn.ParameterDict({m: nn.Parameter(torch.zeros(hidden)) for m in specs})
        for p in self.kind.values():
            nn.init.normal_(p, std=0.02)

    def forward(self, batch: FeatureBatch, modality: str) -> tuple[Tensor, Tensor]:
        h = self.proj[modality](batch.masked(modality)) + self.kind[modality]
        return h, batch.mask(modality)  # (batch, tokens, hidden), (batch, tokens)


@dataclass(frozen=True, kw_only=True)
class AttentionConfig:
    hidden: int = 128
    heads: int = 4
    layers: int = 2
    mlp_ratio: int = 2
    dropout: float = 0.1


class AttentionFusion(Fusion):
    """A [CLS] token plus every token of every present modality through self-attention
    blocks; the [CLS] output is the fused representation. The [CLS] token is always a valid
    key, so a row with no modality at all still gets a defined (bias-only) output."""

    def __init__(self, specs: Mapping[str, ModalitySpec], config: AttentionConfig):
        super().__init__()
        self.tokens = TokenProjections(specs, config.hidden)
        self.cls = nn.Parameter(torch.randn(config.hidden) * 0.02)
        self.blocks = Blocks(config, cross=False)
        self.norm = nn.LayerNorm(config.hidden)
        self.out_dim = config.hidden

    def forward(self, batch: FeatureBatch) -> Tensor:
        parts = [self.tokens(batch, m) for m in self.tokens.modalities]
        cls = self.cls.expand(batch.size, 1, -1)  # (batch, 1, hidden)
        x = torch.cat([cls] + [h for h, _ in parts], 1)  # (batch, 1 + all tokens, hidden)
        always = torch.ones(batch.size, 1, dtype=torch.bool, device=x.device)
        mask = torch.cat([always] + [m for _, m in parts], 1)  # (batch, 1 + all tokens)
        x = self.blocks(x, mask)
        return self.norm(x[:, 0])  # (batch, hidden)


@dataclass(frozen=True, kw_only=True)
class CrossAttentionConfig:
    hidden: int = 128
    heads: int = 4
    layers: int = 1
    mlp_ratio: int = 2
    dropout: float = 0.1
    # modalities whose tokens ask the questions; empty: each one attends to all the others
    queries: tuple[str, ...] = ()


class CrossAttentionFusion(Fusion):
    """Tokens of a query modality attend to the tokens of the other modalities (e.g. text
    tokens looking at image patches); the attended query tokens are mean-pooled, and the
    pooled vectors of the present query modalities averaged.

    A learned null token is always among the keys: a row whose other modalities are all
    absent attends to it alone, instead of to nothing (a softmax over an empty set).
    """

    def __init__(self, specs: Mapping[str, ModalitySpec], config: CrossAttentionConfig):
        super().__init__()
        self.queries = list(config.queries) or list(specs)
        unknown = sorted(set(self.queries) - set(specs))
        if unknown:
            raise ValueError(f"cross-attention queries {unknown} are not among {list(specs)}")
        self.tokens = TokenProjections(specs, config.hidden)
        self.null = nn.Parameter(torch.randn(config.hidden) * 0.02)
        self.blocks = nn.ModuleDict({q: Blocks(config, cross=True) for q in self.queries})
        self.norm = nn.LayerNorm(config.hidden)
        self.out_dim = config.hidden

    def forward(self, batch: FeatureBatch) -> Tensor:
        parts = {m: self.tokens(batch, m) for m in self.tokens.modalities}
        null = self.null.expand(batch.size, 1, -1)  # (batch, 1, hidden)
        always = torch.ones(batch.size, 1, dtype=torch.bool, device=null.device)
        pooled, present = [], []
        for q in self.queries:
            others = [m for m in parts if m != q]
            context = torch.cat([null] + [parts[m][0] for m in others], 1)  # (b, keys, hidden)
            key_mask = torch.cat([always] + [parts[m][1] for m in others], 1)  # (b, keys)
            x, query_mask = parts[q]  # (batch, tokens_q, hidden), (batch, tokens_q)
            x = self.blocks[q](x, key_mask, context)
            pooled.append(masked_mean(x, query_mask, dim=1))  # (batch, hidden)
            present.append(batch.present[q])
        fused = masked_mean(torch.stack(pooled, 1), torch.stack(present, 1), dim=1)
        return self.norm(fused)  # (batch, hidden)

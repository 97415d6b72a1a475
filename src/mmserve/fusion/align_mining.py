"""Hard negatives mined from the whole training set (ANCE-style, Xiong et al. 2021), for
`mmserve align --mine-negatives K`.

In-batch negatives are whatever rows the shuffle put together; most are easy. At the start
of each epoch every training row is embedded with the current heads, and for each row and
direction (a -> b) the K rows of modality b closest to it, its partner left out, become its
mined negatives for that epoch. A batch then scores each query against its in-batch
candidates *and* the mined negatives of its rows (embedded again, with gradients, so the
heads learn to push them away):

    logits (batch, batch + mined) = scale * z_a(batch) @ [z_b(batch); z_b(mined)]^T

Duplicates are not negatives: a row whose features in either modality equal (cosine >=
SAME_CONTENT) the query row's (two scenes with one caption) is never mined for it, since
pushing it away would teach the heads to tell apart what the data says is the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SAME_CONTENT = 0.999  # cosine of raw features above which two rows say the same thing
MINE_CHUNK = 1024  # query rows per similarity block (bounded memory on large sets)
Mined = dict[tuple[str, str], np.ndarray]  # (a, b) -> (rows, k) row indices, -1: none


@torch.no_grad()
def mine_negatives(
    model: torch.nn.Module,
    feats: Mapping[str, Tensor],
    present: Mapping[str, Tensor],
    rows: np.ndarray,
    k: int,
) -> Mined:
    """For each ordered pair (a, b) and each training row (index into the data set) with
    both: the k rows of `rows` whose b embedding is closest to its a embedding."""
    model.eval()
    mined: Mined = {}
    for a, b in itertools.permutations(list(feats), 2):
        have = rows[(present[a][rows] & present[b][rows]).numpy()]
        table = np.full((len(feats[a]), k), -1, np.int64)
        if len(have) > 1:
            index = torch.from_numpy(have)
            za, zb = model.embed(a, feats[a][index]), model.embed(b, feats[b][index])
            raw_a, raw_b = (
                F.normalize(feats[a][index], dim=-1),
                F.normalize(feats[b][index], dim=-1),
            )
            for start in range(0, len(have), MINE_CHUNK):
                block = slice(start, start + MINE_CHUNK)
                sims = za[block] @ zb.T  # (chunk, rows)
                sims = sims.masked_fill(_same_content(raw_a, raw_b, block), -torch.inf)
                top = sims.topk(min(k, len(have) - 1), dim=1)
                found = torch.where(top.values > -torch.inf, index[top.indices], -1)
                table[have[block], : found.shape[1]] = found.numpy()
        mined[(a, b)] = table
    return mined


def _same_content(raw_a: Tensor, raw_b: Tensor, block: slice) -> Tensor:
    """(chunk, rows) bool: row j repeats row i's content (unit-length raw features) in
    either modality; i itself included."""
    same_a = raw_a[block] @ raw_a.T >= SAME_CONTENT
    return same_a | (raw_b[block] @ raw_b.T >= SAME_CONTENT)


def mined_rows(mined: Mined, a: str, b: str, batch: Tensor) -> Tensor:
    """The distinct mined negatives of the batch's rows for a -> b, batch rows left out."""
    found = np.unique(mined[(a, b)][batch.numpy()])
    found = found[found >= 0]
    return torch.from_numpy(np.setdiff1d(found, batch.numpy(), assume_unique=True))


def info_nce_mined(
    za: Tensor, zb: Tensor, za_extra: Tensor, zb_extra: Tensor, scale: Tensor
) -> Tensor:
    """Symmetric InfoNCE where each direction's candidates are the batch plus that
    direction's mined negatives (`zb_extra` for a -> b, `za_extra` for b -> a)."""
    target = torch.arange(len(za))
    forward = scale * za @ torch.cat([zb, zb_extra]).T  # (batch, batch + mined)
    backward = scale * zb @ torch.cat([za, za_extra]).T
    return (F.cross_entropy(forward, target) + F.cross_entropy(backward, target)) / 2


def mined_pair_loss(
    model: torch.nn.Module,
    feats: Mapping[str, Tensor],
    present: Mapping[str, Tensor],
    batch: Tensor,
    mined: Mined,
) -> Tensor | None:
    """align.pair_loss with each pair's mined negatives added: `feats` and `present` are the
    whole data set's, `batch` the rows of this step."""
    total, weight = torch.zeros(()), 0
    scale = model.scale()
    for a, b in itertools.combinations(list(feats), 2):
        rows = batch[present[a][batch] & present[b][batch]]
        if len(rows) < 2:
            continue
        za, zb = model.embed(a, feats[a][rows]), model.embed(b, feats[b][rows])
        zb_extra = model.embed(b, feats[b][mined_rows(mined, a, b, rows)])
        za_extra = model.embed(a, feats[a][mined_rows(mined, b, a, rows)])
        total = total + len(rows) * info_nce_mined(za, zb, za_extra, zb_extra, scale)
        weight += len(rows)
    return total / weight if weight else None

"""Early stopping shared by every training loop (fusion heads, distilled students, aligned
heads): keep the weights of the epoch with the best validation value, stop once `patience`
epochs in a row brought no improvement.

    keeper = KeepBest(model, tc.patience)
    for epoch in ...:
        if keeper.update(epoch, val_score):
            break
    keeper.restore()
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn


class KeepBest:
    def __init__(self, model: nn.Module, patience: int):
        self.model = model
        self.patience = patience
        self.best = -math.inf  # higher is better
        self.best_epoch = 0
        self.since_best = 0
        self._state: dict[str, Any] | None = None

    def update(self, epoch: int, value: float) -> bool:
        """Record this epoch's validation value; True when training should stop."""
        if value > self.best:
            self.best, self.since_best, self.best_epoch = value, 0, epoch
            self._state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return False
        self.since_best += 1
        return self.since_best >= self.patience

    def restore(self) -> None:
        """Put the best epoch's weights back (none recorded: leave the model as it is)."""
        if self._state is not None:
            self.model.load_state_dict(self._state)

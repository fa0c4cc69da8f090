"""The tiny base every loss-weighting strategy builds on.

Conventions (the same as LibMTL):
- The training objective is a **sum** of weighted task losses: total = sum_t w_t * L_t.
  Equal weighting therefore means w_t = 1 (not 1/T).
- A strategy is data in, data out: `weights(losses)` returns the weights; the trainer does the
  backward pass and the optimiser step. `last_weights` holds the weights actually applied last.
- Stochastic strategies take a seed so that runs repeat.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


class Weighting:
    """Loss-based weighting: maps the per-task losses of a step to per-task weights."""

    name: str = ""

    def __init__(self) -> None:
        self.task_names: list[str] = []
        self.last_weights: Tensor | None = None

    def setup(self, task_names: Sequence[str]) -> None:
        """Called once by the trainer before training, with the task names in loss order."""
        self.task_names = list(task_names)

    def weights(self, losses: Tensor) -> Tensor:
        """losses: float [T] (detached) -> weights float [T]."""
        raise NotImplementedError

    def epoch_end(self, epoch_losses: Tensor) -> None:
        """Called by the trainer after each epoch with that epoch's mean loss per task [T]."""

    def __call__(self, losses: Tensor) -> Tensor:
        weights = self.weights(losses)
        if weights.shape != losses.shape:
            raise ValueError(f"{type(self).__name__}.weights returned shape {tuple(weights.shape)} for "
                             f"{losses.numel()} task losses; it must return one weight per task")
        self.last_weights = weights.detach()
        return weights

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def as_tensor(weights: Sequence[float] | Tensor, like: Tensor) -> Tensor:
    return torch.as_tensor(weights, dtype=like.dtype, device=like.device)

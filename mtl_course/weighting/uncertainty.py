"""Uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018): learn one weight per task.

Each task gets a learnable log-variance s_t (starting at 0); the objective is

    sum_t exp(-s_t) * L_t + s_t

A task whose loss stays high is read as "noisy" and its weight exp(-s_t) falls, until exp(-s_t) = 1 / L_t
(the minimum over s_t). The s_t term stops all weights from collapsing to 0.
Scale: the paper writes 1/(2 sigma^2) L + log sigma for regression, i.e. half of this objective;
we drop the 1/2 so that training starts at w = 1, exactly equal weighting.

The s_t are trained by the model's optimiser. With Adam each step moves s_t by about the learning rate, so
a weight can change by a factor e only every ~1/lr steps: pass `lr` to give the s_t their own, larger rate.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from mtl_course.weighting.base import Weighting


class Uncertainty(Weighting):
    name = "uncertainty"

    def __init__(self, lr: float | None = None) -> None:
        super().__init__()
        self.lr = lr                      # learning rate of the log-variances; None: the model's
        self.log_vars = torch.zeros(0)

    def setup(self, task_names: Sequence[str], device: torch.device | str = "cpu") -> None:
        super().setup(task_names)
        self.log_vars = torch.zeros(len(task_names), device=device, requires_grad=True)

    def parameters(self) -> list[Tensor]:
        return [self.log_vars]

    def weights(self, losses: Tensor) -> Tensor:
        return torch.exp(-self.log_vars)          # differentiable: the optimiser learns log_vars

    def regularizer(self) -> Tensor:
        return self.log_vars.sum()

    def __repr__(self) -> str:
        return f"Uncertainty(lr={self.lr})"

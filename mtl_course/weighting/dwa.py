"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, "End-to-end multi-task learning with attention").

A task whose loss fell *less* over the last epoch gets more weight in the next one:

    r_t = L_t(e-1) / L_t(e-2)          (ratio of the epoch-average losses of the last two epochs)
    w_t = T * exp(r_t / temperature) / sum_s exp(r_s / temperature)

The first two epochs use w = 1 (no history yet). Temperature 2 as in the paper; the weights sum to T,
the paper's scale and ours.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from mtl_course.weighting.base import Weighting


class DWA(Weighting):
    name = "dwa"

    def __init__(self, temperature: float = 2.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.history: list[Tensor] = []
        self.current: Tensor | None = None   # this epoch's weights, on the losses' device (one copy an epoch)

    def setup(self, task_names: Sequence[str], device: torch.device | str = "cpu") -> None:
        super().setup(task_names)
        self.history, self.current = [], None

    def epoch_end(self, epoch_losses: Tensor) -> None:
        self.history.append(epoch_losses.detach().float().cpu())
        self.current = None

    def weights(self, losses: Tensor) -> Tensor:
        if len(self.history) < 2:
            return torch.ones_like(losses)
        if self.current is None or self.current.device != losses.device or self.current.dtype != losses.dtype:
            ratio = self.history[-1] / self.history[-2].clamp_min(1e-12)
            weights = len(ratio) * torch.softmax(ratio / self.temperature, dim=0)
            self.current = weights.to(losses.device, losses.dtype)
        return self.current

    def __repr__(self) -> str:
        return f"DWA(temperature={self.temperature})"

"""Offsets: for every object pixel, the vector to its object's centre (Panoptic-DeepLab's second instance head)."""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.metrics.centers import offset_scores, offset_sums
from mtl_course.tasks.base import Task


class Offsets(Task):
    """L1 loss on object pixels; the mean end-point error in pixels (lower is better).

    Inputs: output float [B, 2, H, W] (dy, dx) in pixels; target float [B, 2, H, W], NaN on background pixels
    (they belong to no object, so there is no centre to point to: they are left out of the loss and the metric).
    """

    name = target = "offsets"
    higher_is_better = False
    primary_metric = "epe"

    def __init__(self) -> None:
        super().__init__(out_channels=2)

    def check_target(self, target: Tensor) -> None:
        target = self.prepare_target(target)
        if torch.isinf(target).any():
            raise ValueError(f"{self.name} targets contain inf values; mark pixels without an object with NaN")
        if target.numel() and not torch.isfinite(target).any():
            raise ValueError(f"{self.name} targets are NaN everywhere: no pixel belongs to an object, so there is "
                             f"nothing to learn (check the instance maps the offsets came from)")

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        valid = torch.isfinite(target)                        # NaN: no object there
        # the mean over valid pixels as a masked sum (no read back to the host); no object at all: 0, with a graph
        error = torch.where(valid, output.float() - target, 0.0)
        return error.abs().sum() / valid.sum().clamp_min(1)

    def predict(self, output: Tensor) -> Tensor:
        return output

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        return offset_sums(output.float(), target)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return offset_scores(stats)

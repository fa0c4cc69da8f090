"""Surface normals: which way each pixel's surface faces (a unit 3-vector)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_course.metrics.normals import normal_scores, normal_stats
from mtl_course.tasks.base import Task


class Normals(Task):
    """Loss 1 - cosine(prediction, target) on valid pixels (|target| > 0.5); angle errors in degrees.

    Inputs: output float [B, 3, H, W] (any length; normalised here), target float [B, 3, H, W] unit.
    """

    name = target = "normals"
    higher_is_better = False
    primary_metric = "mean_angle"

    def __init__(self) -> None:
        super().__init__(out_channels=3)

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        valid = target.norm(dim=1) > 0.5
        cosine = F.cosine_similarity(output.float(), target, dim=1, eps=1e-6)
        # the mean over valid pixels as a masked sum (boolean indexing would read the count back: a GPU sync)
        return torch.where(valid, 1 - cosine, 0.0).sum() / valid.sum()

    def predict(self, output: Tensor) -> Tensor:
        return F.normalize(output.float(), dim=1, eps=1e-6)

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        return normal_stats(output.float(), target)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return normal_scores(stats)

    def merge(self, total: Tensor, stats: Tensor) -> Tensor:
        return torch.cat([total, stats])        # every pixel's error, for the exact median

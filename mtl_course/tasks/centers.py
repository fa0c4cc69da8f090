"""Object centres: a heatmap with one peak per object (CenterNet, Zhou et al. 2019; Panoptic-DeepLab)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_course.metrics.centers import RADIUS, center_counts, center_scores
from mtl_course.tasks.base import Task

LOSSES = ("focal", "mse")
PRIOR = 0.1               # the head starts by predicting a centre score of 0.1 everywhere (CenterNet's init)


def focal_loss(logits: Tensor, target: Tensor, alpha: float = 2.0, beta: float = 4.0) -> Tensor:
    """CenterNet's penalty-reduced focal loss, summed over pixels and divided by the number of centres.

    At a centre (target 1): -(1 - p)^alpha log p.  Elsewhere: -(1 - target)^beta p^alpha log(1 - p), so a pixel
    next to a centre (target near 1) is barely punished for a high score, and easy pixels (p near 0) hardly count.
    """
    centre = target >= 1 - 1e-6
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    # sums over masks with torch.where (boolean indexing would read the count back to the host: a GPU sync)
    positive = -torch.where(centre, (1 - p) ** alpha * log_p, 0.0).sum()
    negative = -torch.where(centre, 0.0, (1 - target) ** beta * p ** alpha * log_not_p).sum()
    return (positive + negative) / centre.sum().clamp(min=1)


class Centers(Task):
    """A centre heatmap: focal loss (or loss="mse": the squared error of the scores, Panoptic-DeepLab's); the
    F-score of the peaks found within `radius` pixels of a true centre.

    Inputs: output float [B, 1, H, W] (logits; predict() gives the scores in [0, 1]), target float [B, 1, H, W]
    in [0, 1], exactly 1 at each object's centre (mtl_course.data.center_targets).
    """

    name = target = "centers"
    higher_is_better = True
    primary_metric = "f_score"
    initial_bias = math.log(PRIOR / (1 - PRIOR))

    def __init__(self, loss: str = "focal", radius: float = RADIUS) -> None:
        super().__init__(out_channels=1)
        if loss not in LOSSES:
            raise ValueError(f"unknown centre loss {loss!r}; valid losses are {list(LOSSES)}")
        if not radius > 0:
            raise ValueError(f"radius must be > 0 pixels, got {radius!r}")
        self.loss_kind, self.radius = loss, float(radius)

    def arguments(self) -> dict:
        return {**({"loss": self.loss_kind} if self.loss_kind != "focal" else {}),
                **({"radius": self.radius} if self.radius != RADIUS else {})}

    def check_target(self, target: Tensor) -> None:
        super().check_target(target)
        if target.numel() and (target.min() < 0 or target.max() > 1):
            raise ValueError(f"{self.name} targets must be heatmaps in [0, 1] (1 at each centre), got values "
                             f"{float(target.min()):.3g}..{float(target.max()):.3g}; build them with "
                             f"mtl_course.data.center_targets(instance)")

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        if self.loss_kind == "mse":
            return F.mse_loss(torch.sigmoid(output.float()), target)
        return focal_loss(output.float(), target)

    def predict(self, output: Tensor) -> Tensor:
        return torch.sigmoid(output)

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        return center_counts(self.predict(output.float()).cpu(), target.cpu(), self.radius)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return center_scores(stats)

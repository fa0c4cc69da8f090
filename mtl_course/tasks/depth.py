"""Depth estimation: distance to the camera for every pixel, in metres."""

from __future__ import annotations

from torch import Tensor

from mtl_course.metrics.depth import depth_scores, depth_sums
from mtl_course.tasks.base import Task


class Depth(Task):
    """L1 loss on valid pixels (target > 0); mean absolute error, relative error and RMSE.

    Inputs: output float [B, 1, H, W] (metres), target float [B, 1, H, W] (0 = no measurement).
    """

    name = target = "depth"
    higher_is_better = False
    primary_metric = "abs_err"

    def __init__(self, initial_depth: float = 5.0) -> None:
        super().__init__(out_channels=1)
        # The head starts by predicting a typical depth instead of 0 m, so the first epochs are not
        # spent learning the average (an L1 loss moves the output only ~lr per step at first).
        self.initial_bias = float(initial_depth)

    def arguments(self) -> dict:
        return {"initial_depth": self.initial_bias}

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        self.check_shapes(output, target)
        valid = target > 0
        return (output.float() - target).abs()[valid].mean()

    def predict(self, output: Tensor) -> Tensor:
        return output

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        self.check_shapes(output, target)
        return depth_sums(output.float(), target)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return depth_scores(stats)

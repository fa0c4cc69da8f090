"""Depth estimation: distance to the camera for every pixel, in metres."""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.metrics.depth import depth_scores, depth_sums
from mtl_course.tasks.base import Task


LOSSES = ("l1", "l2")


class Depth(Task):
    """L1 loss on valid pixels (target > 0); mean absolute error, relative error and RMSE.

    loss="l2" uses the squared error instead: its gradient grows with the error (L1's is +-1 per pixel),
    so large errors, and targets in large units, dominate a sum of task losses.

    Inputs: output float [B, 1, H, W] (metres), target float [B, 1, H, W] (0 = no measurement).
    """

    name = target = "depth"
    higher_is_better = False
    primary_metric = "abs_err"

    def __init__(self, initial_depth: float = 5.0, loss: str = "l1") -> None:
        super().__init__(out_channels=1)
        if loss not in LOSSES:
            raise ValueError(f"unknown depth loss {loss!r}; valid losses are {list(LOSSES)}")
        self.loss_kind = loss
        # The head starts by predicting a typical depth instead of 0 m, so the first epochs are not
        # spent learning the average (an L1 loss moves the output only ~lr per step at first).
        self.initial_bias = float(initial_depth)

    def arguments(self) -> dict:
        return {"initial_depth": self.initial_bias, **({"loss": self.loss_kind} if self.loss_kind != "l1" else {})}

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        valid = target > 0                                  # 0: no depth measured there
        # the mean over valid pixels, as a masked sum (boolean indexing would read the count back: a GPU sync)
        error = torch.where(valid, output.float() - target, 0.0)
        return (error.abs() if self.loss_kind == "l1" else error.square()).sum() / valid.sum()

    def predict(self, output: Tensor) -> Tensor:
        return output

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        return depth_sums(output.float(), target)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return depth_scores(stats)

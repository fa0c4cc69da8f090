"""Cross-task consistency: a loss that ties two tasks' *predictions* together, needing no label of its own.

An object boundary is where the class changes, so the edges a network predicts should lie where the
segmentation it predicts changes class. The soft boundaries of a predicted segmentation are differentiable, so
the disagreement between the two maps is a loss whose gradient reaches both heads (and the trunk below them):

    b = soft_boundaries(softmax(semseg logits))       # float [B, 1, H, W] in [0, 1]
    e = sigmoid(edge logits)                          # float [B, 1, H, W] in [0, 1]
    consistency = weight * mean over pixels of (e - b)^2

It is zero when the two predictions agree and at most `weight` when they contradict each other everywhere. It
enters training as a pseudo-task, weighted like any task (its loss already includes `weight`):

    consistency = get_task("consistency", between=("edges", "semseg"), weight=1.0)
    model = build_model([semseg, edges])                     # the model predicts the tasks it reads ...
    fit(model, [semseg, edges, consistency], train, val)     # ... fit trains all three losses

Its metric, "disagreement", is the unweighted mean (e - b)^2 (lower is better). The course's edge labels mark
*instance* boundaries, so two touching objects of one class have an edge that no segmentation shows: perfect
predictions of both tasks agree on nearly all pixels, not all.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_course.tasks.base import Task


def soft_boundaries(probabilities: Tensor) -> Tensor:
    """How surely each pixel lies on a boundary of a soft segmentation.

    Inputs:
        probabilities: float [B, C, H, W], each pixel's class probabilities (summing to 1 over C)
    Returns:
        float [B, 1, H, W] in [0, 1]: for each pair of 4-neighbours the total-variation distance between their
        class distributions, d = 1/2 sum_c |p_c(x) - p_c(y)| (1: sure of different classes, 0: the same
        distribution); each pixel keeps the largest d of its 4 neighbours. On one-hot maps this is the data's own
        edge rule: a pixel touching another label, on both sides of the boundary.
    """
    vertical = 0.5 * (probabilities[..., 1:, :] - probabilities[..., :-1, :]).abs().sum(1, keepdim=True)
    horizontal = 0.5 * (probabilities[..., :, 1:] - probabilities[..., :, :-1]).abs().sum(1, keepdim=True)
    # each pair's distance goes to both of its pixels: the row (column) it lacks at one side is padded with 0
    return torch.stack([F.pad(vertical, (0, 0, 1, 0)), F.pad(vertical, (0, 0, 0, 1)),
                        F.pad(horizontal, (1, 0)), F.pad(horizontal, (0, 1))]).amax(dim=0)


def edge_disagreement(edge_logits: Tensor, semseg_logits: Tensor) -> Tensor:
    """float [B, 1, H, W] (edge logits), [B, C, H, W] (class logits) -> [B, 1, H, W]: (e - b)^2 per pixel."""
    edges = torch.sigmoid(edge_logits.float())
    return (edges - soft_boundaries(torch.softmax(semseg_logits.float(), dim=1))).square()


class Consistency(Task):
    """A pseudo-task: weight * mean (sigmoid(edge logits) - soft_boundaries(softmax(class logits)))^2.

    between: the output names (edge task, segmentation task) it reads; weight: multiplies the loss (not the metric).
    loss(edge_output, semseg_output) and stats(...) take the two tasks' outputs, [B, 1, H, W] and [B, C, H, W].
    """

    name = "consistency"
    target = None                 # no labels: it reads two model outputs
    higher_is_better = False
    primary_metric = "disagreement"
    own_output = False

    def __init__(self, between: Sequence[str] = ("edges", "semseg"), weight: float = 1.0) -> None:
        if (isinstance(between, str) or len(between) != 2 or not all(isinstance(n, str) for n in between)
                or between[0] == between[1]):
            raise ValueError(f"between must name two different tasks, (edge task, segmentation task), e.g. "
                             f"between=('edges', 'semseg'); got {between!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"the consistency weight must be a number >= 0, got {weight!r}")
        super().__init__(out_channels=0)
        self.between = (between[0], between[1])
        self.weight = float(weight)

    def arguments(self) -> dict:
        return {"between": list(self.between), "weight": self.weight}

    def rename(self, key: str) -> "Consistency":
        self.name = key               # its target stays None: there is nothing to read from the data
        return self

    @property
    def reads(self) -> list[str]:
        return list(self.between)

    def inputs(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return outputs[self.between[0]], outputs[self.between[1]]

    def check_shapes(self, edge_output: Tensor, semseg_output: Tensor) -> None:
        edge_name, semseg_name = self.between
        if edge_output.dim() != 4 or edge_output.shape[1] != 1:
            hint = (f"; between lists the edge task first: between=({semseg_name!r}, {edge_name!r})"
                    if edge_output.dim() == 4 and edge_output.shape[1] > 1 else "")
            raise ValueError(f"{self.name} reads {edge_name!r} as edge logits [B, 1, H, W], got an output of shape "
                             f"{tuple(edge_output.shape)}{hint}")
        if semseg_output.dim() != 4 or semseg_output.shape[1] < 2:
            raise ValueError(f"{self.name} reads {semseg_name!r} as class logits [B, C, H, W] with C >= 2, got an "
                             f"output of shape {tuple(semseg_output.shape)}: name a segmentation task second")
        if edge_output.shape[0] != semseg_output.shape[0] or edge_output.shape[2:] != semseg_output.shape[2:]:
            raise ValueError(f"{self.name}: the {edge_name} output {tuple(edge_output.shape)} and the {semseg_name} "
                             f"output {tuple(semseg_output.shape)} must have the same batch size, height and width")

    def loss(self, edge_output: Tensor, semseg_output: Tensor) -> Tensor:
        self.check_shapes(edge_output, semseg_output)
        return self.weight * edge_disagreement(edge_output, semseg_output).mean()

    def stats(self, edge_output: Tensor, semseg_output: Tensor) -> Tensor:
        """float64 [2]: (sum of (e - b)^2, number of pixels); they add up over batches."""
        self.check_shapes(edge_output, semseg_output)
        squared = edge_disagreement(edge_output, semseg_output)
        return torch.stack([squared.double().sum(), squared.new_tensor(squared.numel(), dtype=torch.float64)])

    def scores(self, stats: Tensor) -> dict[str, float]:
        return {"disagreement": float(stats[0] / stats[1])}

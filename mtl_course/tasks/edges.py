"""Edge detection: is this pixel on an object boundary?"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_course.metrics.edges import edge_counts, edge_scores
from mtl_course.tasks.base import Task


class Edges(Task):
    """Class-balanced binary cross-entropy (HED, Xie & Tu 2015); F-score with 1-pixel tolerance.

    Edge pixels are rare (~7 % here), so a plain BCE is minimised by predicting "no edge"
    everywhere. Each pixel is weighted by the frequency of the *other* class in the batch:
    edge pixels by the fraction of non-edges, non-edges by the fraction of edges.

    Inputs: output float [B, 1, H, W] (logits), target float [B, 1, H, W] in {0, 1}.
    """

    name = target = "edges"
    higher_is_better = True
    primary_metric = "f_score"

    def __init__(self, tolerance: int = 1) -> None:
        super().__init__(out_channels=1)
        self.tolerance = tolerance

    def arguments(self) -> dict:
        return {"tolerance": self.tolerance}

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        self.check_shapes(output, target)
        edge_fraction = target.mean()
        weight = torch.where(target > 0.5, 1 - edge_fraction, edge_fraction)
        return 2 * F.binary_cross_entropy_with_logits(output.float(), target, weight=weight)

    def predict(self, output: Tensor) -> Tensor:
        return torch.sigmoid(output)

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        self.check_shapes(output, target)
        return edge_counts(self.predict(output.float()), target, self.tolerance)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return edge_scores(stats)

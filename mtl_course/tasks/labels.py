"""Multi-label classification: which object classes appear anywhere in the image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_course.metrics.multilabel import multilabel_counts, multilabel_scores
from mtl_course.tasks.base import Task


class Labels(Task):
    """Binary cross-entropy per class; mean F1 over classes. An image-level task (not dense).

    Inputs: output float [B, L] (logits), target float [B, L] multi-hot, L = num_classes - 1.
    """

    name = target = "labels"
    higher_is_better = True
    primary_metric = "f1"
    dense = False

    def __init__(self, num_classes: int) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"labels needs num_classes >= 2 (background + at least one class), "
                             f"got num_classes={num_classes!r}")
        super().__init__(out_channels=num_classes - 1)
        self.num_classes = num_classes

    def arguments(self) -> dict:
        return {"num_classes": self.num_classes}

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        return F.binary_cross_entropy_with_logits(output.float(), target)

    def predict(self, output: Tensor) -> Tensor:
        return torch.sigmoid(output)

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        return multilabel_counts(self.predict(output.float()), target)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return multilabel_scores(stats)

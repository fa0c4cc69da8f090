"""Semantic segmentation: a class for every pixel."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from mtl_course.metrics.segmentation import confusion_matrix, segmentation_scores
from mtl_course.tasks.base import Task

IGNORE_INDEX = 255


class SemSeg(Task):
    """Cross-entropy over C classes (pixels labelled 255 are ignored); mIoU and pixel accuracy.

    Inputs: output float [B, C, H, W] (logits), target int64 [B, H, W] class ids.
    """

    name = target = "semseg"
    higher_is_better = True
    primary_metric = "miou"

    def __init__(self, num_classes: int) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"semseg needs num_classes >= 2 (background + at least one class), "
                             f"got num_classes={num_classes!r}")
        super().__init__(out_channels=num_classes)
        self.num_classes = num_classes

    def arguments(self) -> dict:
        return {"num_classes": self.num_classes}

    def expected_target_shape(self, output: Tensor) -> tuple[int, ...]:
        return (output.shape[0], *output.shape[2:])

    def check_target(self, target: Tensor) -> None:
        if target.is_floating_point():
            raise ValueError(f"semseg target must hold integer class ids (int64), got {target.dtype}")
        labelled = target[target != IGNORE_INDEX]
        if labelled.numel() and (labelled.min() < 0 or labelled.max() >= self.num_classes):
            bad = int(labelled.max()) if labelled.max() >= self.num_classes else int(labelled.min())
            raise ValueError(f"semseg target holds class id {bad} but the model predicts {self.num_classes} "
                             f"classes (0..{self.num_classes - 1}); pass num_classes={max(bad + 1, 2)} or "
                             f"check the dataset's class list")

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        self.check_shapes(output, target)
        if target.device.type == "cpu":      # on a GPU an out-of-range id is caught once, before training
            self.check_target(target)
        return F.cross_entropy(output.float(), target, ignore_index=IGNORE_INDEX)

    def predict(self, output: Tensor) -> Tensor:
        return output.argmax(dim=1)

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        self.check_shapes(output, target)
        return confusion_matrix(self.predict(output), target, self.num_classes, IGNORE_INDEX)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return segmentation_scores(stats)

"""Semantic segmentation: a class for every pixel."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_course.device import reads_are_free
from mtl_course.metrics.segmentation import confusion_matrix, per_class_iou, segmentation_scores
from mtl_course.tasks.base import Task

IGNORE_INDEX = 255


class SemSeg(Task):
    """Cross-entropy over C classes (pixels labelled ignore_index, 255 by default, are ignored); mIoU and
    pixel accuracy.

    Inputs: output float [B, C, H, W] (logits), target integer [B, H, W] class ids (any integer type or
    bool; read as int64). ignore_index: the label of unlabelled pixels in your dataset (255 in VOC and the
    course data; -1 or -100 elsewhere). class_weights: one weight per class for the cross-entropy (rare classes
    up, e.g. balanced_class_weights(masks, C)); "balanced": fit computes balanced_class_weights from the training
    masks before the first step and stores them here; None: every class weighs 1.
    """

    name = target = "semseg"
    higher_is_better = True
    primary_metric = "miou"

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 class_weights: list[float] | tuple[float, ...] | Tensor | str | None = None) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"semseg needs num_classes >= 2 (background + at least one class), "
                             f"got num_classes={num_classes!r}")
        if not isinstance(ignore_index, int) or 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index={ignore_index!r} must be an integer that is not a class id "
                             f"(0..{num_classes - 1}), e.g. 255 or -1")
        if isinstance(class_weights, str) and class_weights != "balanced":
            raise ValueError(f"class_weights must be a list of weights, 'balanced' or None, got {class_weights!r}")
        if class_weights is not None and not isinstance(class_weights, str):
            weights = torch.as_tensor(class_weights, dtype=torch.float32).flatten()
            if len(weights) != num_classes or not torch.isfinite(weights).all() or (weights < 0).any() \
                    or weights.sum() <= 0:
                raise ValueError(f"class_weights must be {num_classes} finite numbers >= 0 (one per class, not all "
                                 f"0), got {class_weights!r}; balanced_class_weights(masks, {num_classes}) computes "
                                 f"them from the training masks")
            class_weights = [float(w) for w in weights]
        super().__init__(out_channels=num_classes)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_weights = class_weights
        self.weights_on: tuple[Any, Tensor] | None = None   # (class_weights, as a tensor on a device): copied once

    def arguments(self) -> dict:
        return {"num_classes": self.num_classes,
                **({"ignore_index": self.ignore_index} if self.ignore_index != IGNORE_INDEX else {}),
                **({"class_weights": self.class_weights} if self.class_weights is not None else {})}

    def expected_target_shape(self, output: Tensor) -> tuple[int, ...]:
        return (output.shape[0], *output.shape[2:])

    def prepare_target(self, target: Tensor) -> Tensor:
        """The class ids as int64 (uint8, int32, bool... are converted); float label maps are refused."""
        if not isinstance(target, Tensor):
            raise TypeError(f"the {self.name} target must be a torch.Tensor, got {type(target).__name__}")
        if target.is_floating_point():
            raise ValueError(f"{self.name} target must hold integer class ids, got {target.dtype}. A label image "
                             f"read with ToTensor() is scaled by 1/255: read it with torchvision.io.decode_image "
                             f"or as a tv_tensors.Mask, or use .long() if the values are whole class ids")
        return target if target.dtype == torch.int64 else target.long()

    def check_target(self, target: Tensor) -> None:
        target = self.prepare_target(target)
        labelled = target[target != self.ignore_index]
        if labelled.numel() and labelled.min() < 0:
            bad = int(labelled.min())
            raise ValueError(f"{self.name} target holds the label {bad}, which is no class id "
                             f"(0..{self.num_classes - 1}) and not the ignore_index ({self.ignore_index}). If {bad} "
                             f"marks unlabelled pixels, pass get_task('semseg', num_classes={self.num_classes}, "
                             f"ignore_index={bad})")
        if labelled.numel() and labelled.max() >= self.num_classes:
            bad = int(labelled.max())
            raise ValueError(f"{self.name} target holds class id {bad} but the model predicts {self.num_classes} "
                             f"classes (0..{self.num_classes - 1}); pass num_classes={bad + 1} or check the "
                             f"dataset's class list (or, if {bad} marks unlabelled pixels, ignore_index={bad})")

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        if reads_are_free(target):           # on a GPU an out-of-range id is caught once, before training
            self.check_target(target)
        if self.class_weights == "balanced":
            raise ValueError("class_weights='balanced' is computed by fit from the training masks before the first "
                             "step; outside fit, pass class_weights=balanced_class_weights(masks, num_classes)")
        weight = self.weight_on(output.device) if self.class_weights is not None else None
        return F.cross_entropy(output.float(), target, weight=weight, ignore_index=self.ignore_index)

    def weight_on(self, device: torch.device) -> Tensor:
        """class_weights as a float tensor on `device`, made once (a copy to a GPU at every step would wait for it)."""
        values = tuple(self.class_weights)
        if self.weights_on is None or self.weights_on[0] != values or self.weights_on[1].device != device:
            self.weights_on = (values, torch.tensor(values, dtype=torch.float32, device=device))
        return self.weights_on[1]

    def predict(self, output: Tensor) -> Tensor:
        return output.argmax(dim=1)

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        target = self.prepare_target(target)
        self.check_shapes(output, target)
        return confusion_matrix(self.predict(output), target, self.num_classes, self.ignore_index)

    def scores(self, stats: Tensor) -> dict[str, float]:
        return segmentation_scores(stats)

    def per_class(self, stats: Tensor) -> dict[str, list[float]]:
        return {"iou": per_class_iou(stats)}


def balanced_class_weights(masks: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> list[float]:
    """Median-frequency balancing (Eigen & Fergus 2015, as SegNet): weight_c = median(freq) / freq_c, where freq_c is
    class c's share of the labelled pixels of `masks` (integer [N, H, W]). A class absent from the masks gets 0
    (nothing to learn it from), so the loss ignores it rather than dividing by zero."""
    masks = torch.as_tensor(masks)
    labelled = masks[masks != ignore_index].long()
    if labelled.numel() == 0:
        raise ValueError("the masks have no labelled pixel: nothing to weight the classes by")
    if labelled.min() < 0 or labelled.max() >= num_classes:
        raise ValueError(f"the masks hold ids outside 0..{num_classes - 1} (and are not ignore_index={ignore_index})")
    return median_frequency_weights(torch.bincount(labelled, minlength=num_classes))


def median_frequency_weights(counts: Tensor) -> list[float]:
    """weight_c = median(freq) / freq_c from pixel counts [C] (freq_c = counts_c / sum); 0 for a class never seen."""
    freq = counts.double() / counts.sum()
    present = freq > 0
    median = freq[present].median()
    return [float(median / f) if f > 0 else 0.0 for f in freq]

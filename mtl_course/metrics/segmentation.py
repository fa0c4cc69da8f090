"""Semantic segmentation scores from a confusion matrix (adds up over batches)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = 255) -> Tensor:
    """Count (true class, predicted class) pairs over all valid pixels.

    Inputs:
        pred:   int64 [B, H, W]  predicted class ids
        target: int64 [B, H, W]  true class ids; pixels equal to ignore_index are skipped
    Returns:
        int64 [C, C]  rows = true class, columns = predicted class
    """
    valid = target != ignore_index
    index = target[valid] * num_classes + pred[valid]
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def segmentation_scores(confusion: Tensor) -> dict[str, float]:
    """mIoU and pixel accuracy from a confusion matrix.

    IoU_c = TP_c / (TP_c + FP_c + FN_c). mIoU averages over the classes that occur in the target or
    the prediction (a class absent from both has no IoU and is left out, as in most benchmarks).
    Pixel accuracy pools all pixels (not the mean of per-class recalls). With no valid pixel at all
    (every one ignored) both are NaN: there is nothing to score, which is not a score of 0.
    """
    confusion = confusion.double()
    true_pos = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_pos
    seen = union > 0
    miou = (true_pos[seen] / union[seen]).mean().item() if seen.any() else math.nan
    total = confusion.sum().item()
    return {"miou": miou, "pixel_acc": true_pos.sum().item() / total if total else math.nan}


def per_class_iou(confusion: Tensor) -> list[float]:
    """IoU of every class [C] from a confusion matrix [C, C]: TP_c / (TP_c + FP_c + FN_c); NaN for a class absent
    from both the target and the prediction (no IoU, not 0). mIoU is the mean of the non-NaN entries."""
    confusion = confusion.double()
    true_pos = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_pos
    return [float(tp / u) if u > 0 else math.nan for tp, u in zip(true_pos, union)]

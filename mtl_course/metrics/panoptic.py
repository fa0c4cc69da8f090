"""Panoptic quality (Kirillov, He, Girshick, Rother & Dollár, CVPR 2019): one number for "found every object, and
outlined each one well".

A *segment* is the set of pixels of one (class, instance) pair in one image. Stuff classes (here the background,
class 0) have no instances: all of an image's pixels of a stuff class are one segment. Thing classes (the object
classes) have one segment per instance id. A predicted and a true segment of the same class *match* when their
IoU is above 0.5; no segment can match two others, because two disjoint segments cannot both cover more than half
of a third. Per class c, over all images:

    TP_c = matched pairs,  FP_c = predicted segments left unmatched,  FN_c = true segments left unmatched
    SQ_c = mean IoU of the matched pairs                  (segmentation quality: how well outlined)
    RQ_c = TP_c / (TP_c + FP_c / 2 + FN_c / 2)            (recognition quality: an F1 score over segments)
    PQ_c = SQ_c * RQ_c = sum of matched IoUs / (TP_c + FP_c / 2 + FN_c / 2)

PQ, SQ and RQ average over the classes that have a segment in the prediction or the truth. Pixels whose true
class is `ignore_index` are left out of every segment (the paper's void pixels, simplified: they are removed,
rather than excusing a predicted segment that lies mostly on them).

    stats = panoptic_stats(pred_semseg, pred_instance, true_semseg, true_instance, num_classes)   # adds up
    scores = panoptic_scores(stats)          # or panoptic_quality(...) for one batch
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

STUFF = (0,)              # the course's background; every other class is a thing


def check_panoptic_inputs(pred_semseg: Tensor, pred_instance: Tensor, true_semseg: Tensor, true_instance: Tensor,
                          num_classes: int, ignore_index: int = 255) -> None:
    """Raise a ValueError that names the problem when the four maps cannot be scored together."""
    maps = {"pred_semseg": pred_semseg, "pred_instance": pred_instance, "true_semseg": true_semseg,
            "true_instance": true_instance}
    for name, value in maps.items():
        if not isinstance(value, Tensor) or value.dim() != 3:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"{name} must be an integer map [B, H, W], got {shape}; for class logits [B, C, H, W] "
                             f"pass logits.argmax(1)")
        if value.is_floating_point() or value.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer ids, got dtype {value.dtype}; use .long()")
    shapes = {name: tuple(value.shape) for name, value in maps.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"the four maps must have the same shape [B, H, W], got {shapes}")
    if int(pred_instance.min()) < 0 or int(true_instance.min()) < 0:
        raise ValueError("instance ids must be >= 0 (0 = no instance)")
    for name in ("pred_semseg", "true_semseg"):
        valid = maps[name][maps[name] != ignore_index]
        if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= num_classes):
            raise ValueError(f"{name} holds class ids {int(valid.min())}..{int(valid.max())}, outside "
                             f"0..{num_classes - 1} (num_classes={num_classes}); pass the dataset's class count")


def is_stuff(semseg: Tensor, stuff: Sequence[int] = STUFF) -> Tensor:
    """bool, the shape of semseg: True where the class id is a stuff class (no instances)."""
    return torch.isin(semseg, torch.tensor(list(stuff), dtype=semseg.dtype, device=semseg.device))


def _segments(semseg: Tensor, instance: Tensor, stuff: Sequence[int]) -> tuple[Tensor, Tensor]:
    """One image's segments: (segment index per pixel [N], class of each segment [S]); stuff instances set to 0."""
    instance = torch.where(is_stuff(semseg, stuff), 0, instance)
    ids = int(instance.max()) + 1
    unique, index = torch.unique(semseg * ids + instance, return_inverse=True)   # one key per (class, instance)
    return index, unique // ids


def panoptic_stats(pred_semseg: Tensor, pred_instance: Tensor, true_semseg: Tensor, true_instance: Tensor,
                   num_classes: int, stuff: Sequence[int] = STUFF, ignore_index: int = 255) -> Tensor:
    """Per-class sums that add up over batches.

    Inputs:
        pred_semseg, true_semseg:     int [B, H, W]  class ids (true pixels equal to ignore_index are left out)
        pred_instance, true_instance: int [B, H, W]  instance ids, 0 = none (read only for thing classes)
    Returns:
        float64 [num_classes, 4]: per class (sum of matched IoUs, TP, FP, FN)
    """
    check_panoptic_inputs(pred_semseg, pred_instance, true_semseg, true_instance, num_classes, ignore_index)
    stats = torch.zeros(num_classes, 4, dtype=torch.float64)
    for image in range(pred_semseg.shape[0]):
        valid = true_semseg[image] != ignore_index
        pred_index, pred_class = _segments(pred_semseg[image][valid].long(), pred_instance[image][valid].long(), stuff)
        true_index, true_class = _segments(true_semseg[image][valid].long(), true_instance[image][valid].long(), stuff)
        n_pred, n_true = len(pred_class), len(true_class)
        overlap = torch.bincount(pred_index * n_true + true_index, minlength=n_pred * n_true).view(n_pred, n_true)
        pred_area, true_area = overlap.sum(1, keepdim=True), overlap.sum(0, keepdim=True)
        iou = overlap.double() / (pred_area + true_area - overlap).clamp(min=1)
        matched = (iou > 0.5) & (pred_class[:, None] == true_class[None, :])
        stats[:, 0].index_add_(0, true_class, (iou * matched).sum(0))
        stats[:, 1].index_add_(0, true_class, matched.any(0).double())
        stats[:, 2].index_add_(0, pred_class, (~matched.any(1)).double())
        stats[:, 3].index_add_(0, true_class, (~matched.any(0)).double())
    return stats


def panoptic_scores(stats: Tensor) -> dict:
    """PQ, SQ, RQ (means over the classes with a segment) and per_class {class id: {"pq", "sq", "rq"}}.

    With no segment at all the means are NaN: nothing was there to find, which is not a score of 0.
    """
    iou_sum, tp, fp, fn = stats.double().unbind(1)
    per_class = {}
    for c in range(stats.shape[0]):
        if tp[c] + fp[c] + fn[c] == 0:
            continue
        sq = float(iou_sum[c] / tp[c]) if tp[c] else 0.0
        rq = float(tp[c] / (tp[c] + fp[c] / 2 + fn[c] / 2))
        per_class[c] = {"pq": sq * rq, "sq": sq, "rq": rq}
    mean = {key: sum(v[key] for v in per_class.values()) / len(per_class) if per_class else math.nan
            for key in ("pq", "sq", "rq")}
    return {**mean, "per_class": per_class}


def panoptic_quality(pred_semseg: Tensor, pred_instance: Tensor, true_semseg: Tensor, true_instance: Tensor,
                     num_classes: int, stuff: Sequence[int] = STUFF, ignore_index: int = 255) -> dict:
    """panoptic_scores(panoptic_stats(...)) for one batch: {"pq", "sq", "rq", "per_class"}."""
    return panoptic_scores(panoptic_stats(pred_semseg, pred_instance, true_semseg, true_instance, num_classes,
                                          stuff, ignore_index))

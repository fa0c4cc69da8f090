"""How good are predicted object centres and offsets (the dense targets of mtl_course.data.center_targets)?

Centres: the predicted heatmap's peaks (find_centers) are matched one to one, highest score first, to the true
centres (the pixels where the target heatmap is 1) within `radius` pixels; precision, recall and their F-score.
Offsets: the end-point error, the length of (predicted - true) offset in pixels, averaged over object pixels
(the target is NaN on the background, where no centre exists).

    counts = center_counts(torch.sigmoid(logits), target_heatmap)     # [3] = (TP, FP, FN), add up over batches
    center_scores(counts)  -> {"f_score", "precision", "recall"}
    offset_sums(pred_offsets, target_offsets) -> [2] = (sum of errors, object pixels);  offset_scores(sums)
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.metrics.grouping import find_centers

RADIUS = 2.0             # pixels: a predicted centre this close to a true one finds it


def true_centers(heatmap: Tensor) -> list[Tensor]:
    """The true centres of each image: [B] of int64 [K_b, 2] (row, column), where the target heatmap is 1."""
    return [(image[0] >= 1 - 1e-6).nonzero() for image in heatmap]


def center_counts(pred: Tensor, target: Tensor, radius: float = RADIUS, threshold: float = 0.1,
                  kernel: int = 5) -> Tensor:
    """(TP, FP, FN) of the predicted centres, as int64 [3].

    Inputs: pred float [B, 1, H, W] centre scores in [0, 1]; target float [B, 1, H, W] (1 at each true centre).
    """
    counts = torch.zeros(3, dtype=torch.long)
    for found, truth in zip(find_centers(pred, threshold, kernel), true_centers(target)):
        free = torch.ones(len(truth), dtype=torch.bool)
        for peak in found.float():                          # highest score first
            distance = (truth.float() - peak).norm(dim=1).masked_fill(~free, float("inf"))
            if len(truth) and distance.min() <= radius:
                free[distance.argmin()] = False
                counts[0] += 1
            else:
                counts[1] += 1
        counts[2] += int(free.sum())
    return counts


def center_scores(counts: Tensor) -> dict[str, float]:
    tp, fp, fn = (float(c) for c in counts)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f_score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f_score": f_score, "precision": precision, "recall": recall}


def offset_sums(pred: Tensor, target: Tensor) -> Tensor:
    """(sum of end-point errors, number of object pixels) as float64 [2].

    Inputs: pred float [B, 2, H, W]; target float [B, 2, H, W] (dy, dx), NaN on the background.
    """
    valid = torch.isfinite(target).all(dim=1)                                    # [B, H, W]
    error = (pred.float() - target.float()).norm(dim=1)[valid]
    return torch.stack([error.double().sum(), torch.tensor(float(valid.sum()), dtype=torch.float64)]).cpu()


def offset_scores(sums: Tensor) -> dict[str, float]:
    total, pixels = (float(s) for s in sums)
    return {"epe": total / pixels if pixels else float("nan")}

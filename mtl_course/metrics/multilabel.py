"""Image-level multi-label classification: per-class F1 from counts that add up over batches."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def multilabel_counts(prob: Tensor, target: Tensor, threshold: float = 0.5) -> Tensor:
    """Inputs: prob, target float [B, L]. Returns float64 [L, 4]: (TP, FP, FN, TN) per label."""
    predicted, truth = prob >= threshold, target > 0.5
    return torch.stack([(predicted & truth).sum(0), (predicted & ~truth).sum(0),
                        (~predicted & truth).sum(0), (~predicted & ~truth).sum(0)], dim=1).double()


def multilabel_scores(counts: Tensor) -> dict[str, float]:
    """f1: mean over labels of F1 = 2TP / (2TP + FP + FN) (macro F1; labels never predicted nor present
    are left out, and with no such label at all it is NaN); accuracy: fraction of (image, label)
    decisions that are right (NaN with no image)."""
    tp, fp, fn, tn = counts.unbind(1)
    seen = (tp + fp + fn) > 0
    f1 = (2 * tp[seen] / (2 * tp[seen] + fp[seen] + fn[seen])).mean().item() if seen.any() else math.nan
    total = counts.sum().item()
    return {"f1": f1, "accuracy": (tp + tn).sum().item() / total if total else math.nan}

"""Edge detection F-score with a pixel tolerance, at the best threshold over the whole dataset (ODS).

A predicted edge pixel is correct when a true edge lies within `tolerance` pixels (chessboard
distance); a true edge pixel is found when a predicted edge lies that close. This is the BSDS
benchmark's idea without its one-to-one matching, which is enough to compare models here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

THRESHOLDS = torch.linspace(0.05, 0.95, 19)


def _near(mask: Tensor, tolerance: int) -> Tensor:
    """Pixels within `tolerance` of a True pixel. mask: bool [B, 1, H, W]."""
    size = 2 * tolerance + 1
    return F.max_pool2d(mask.float(), size, stride=1, padding=tolerance) > 0


def edge_counts(prob: Tensor, target: Tensor, tolerance: int = 1, thresholds: Tensor = THRESHOLDS) -> Tensor:
    """Inputs: prob float [B, 1, H, W] in [0, 1], target float [B, 1, H, W] in {0, 1}.
    Returns float64 [len(thresholds), 4]: per threshold (predicted edges, of them near a true edge,
    true edges, of them near a predicted edge)."""
    truth = target > 0.5
    near_truth = _near(truth, tolerance)
    rows = []
    for threshold in thresholds.tolist():
        predicted = prob >= threshold
        rows.append(torch.stack([predicted.sum(), (predicted & near_truth).sum(),
                                 truth.sum(), (truth & _near(predicted, tolerance)).sum()]))
    return torch.stack(rows).double()


def precision_recall_f(counts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Precision, recall and F from (predicted, correct, true, found) counts [..., 4] (0 where undefined)."""
    predicted, correct, truth, found = counts.unbind(-1)
    precision = torch.where(predicted > 0, correct / predicted.clamp(min=1), torch.zeros_like(correct))
    recall = torch.where(truth > 0, found / truth.clamp(min=1), torch.zeros_like(found))
    total = precision + recall
    f_score = torch.where(total > 0, 2 * precision * recall / total.clamp(min=1e-12), torch.zeros_like(total))
    return precision, recall, f_score


def edge_scores(counts: Tensor, thresholds: Tensor = THRESHOLDS) -> dict[str, float]:
    """f_score, precision, recall at the threshold with the best F (returned as `threshold`)."""
    precision, recall, f_score = precision_recall_f(counts)
    best = int(f_score.argmax())
    return {"f_score": f_score[best].item(), "precision": precision[best].item(),
            "recall": recall[best].item(), "threshold": thresholds[best].item()}

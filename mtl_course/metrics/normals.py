"""Surface-normal angle errors. The statistics are the per-pixel errors themselves, so the median is exact.

(A histogram would add up over batches in constant memory, but its median is only as exact as its bins;
the errors of a whole validation split fit easily in memory: 8 bytes per valid pixel.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

WITHIN = (11.25, 22.5, 30.0)


def angle_errors(pred: Tensor, target: Tensor) -> Tensor:
    """Inputs: pred, target float [B, 3, H, W] (pred need not be unit length; target pixels with
    length < 0.5 are invalid). Returns float64 [valid pixels]: angle between them in degrees."""
    valid = target.norm(dim=1) > 0.5
    cosine = torch.nn.functional.cosine_similarity(pred.double(), target.double(), dim=1)
    return torch.rad2deg(torch.acos(cosine[valid].clamp(-1, 1)))


def normal_stats(pred: Tensor, target: Tensor) -> Tensor:
    """float64 [valid pixels]: the angle errors; batches are joined by concatenation (Normals.merge)."""
    return angle_errors(pred, target)


def normal_scores(errors: Tensor) -> dict[str, float]:
    """mean_angle, median_angle (degrees; the exact median: the mean of the two middle errors when their
    number is even) and the percentage of pixels with an error strictly below 11.25, 22.5 and 30 degrees."""
    if errors.numel() == 0:
        return {"mean_angle": math.nan, "median_angle": math.nan,
                **{f"within_{limit:g}": math.nan for limit in WITHIN}}
    errors = errors.double()
    ordered = errors.sort().values
    middle = (len(ordered) - 1) / 2
    median = (ordered[math.floor(middle)] + ordered[math.ceil(middle)]) / 2
    scores = {"mean_angle": errors.mean().item(), "median_angle": median.item()}
    for limit in WITHIN:
        scores[f"within_{limit:g}"] = 100 * (errors < limit).double().mean().item()
    return scores

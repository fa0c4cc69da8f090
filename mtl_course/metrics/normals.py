"""Surface-normal angle errors, accumulated as a fine histogram so the median adds up over batches."""

from __future__ import annotations

import math

import torch
from torch import Tensor

BIN_DEGREES = 0.05
BINS = int(180 / BIN_DEGREES)
WITHIN = (11.25, 22.5, 30.0)


def angle_errors(pred: Tensor, target: Tensor) -> Tensor:
    """Inputs: pred, target float [B, 3, H, W] (pred need not be unit length; target pixels with
    length < 0.5 are invalid). Returns float [valid pixels]: angle between them in degrees."""
    valid = target.norm(dim=1) > 0.5
    cosine = torch.nn.functional.cosine_similarity(pred.double(), target.double(), dim=1)
    return torch.rad2deg(torch.acos(cosine[valid].clamp(-1, 1)))


def normal_stats(pred: Tensor, target: Tensor) -> Tensor:
    """float64 [2 + len(WITHIN) + BINS]: (count, sum of errors, count within each WITHIN, histogram)."""
    errors = angle_errors(pred, target)
    within = [(errors < limit).sum().double() for limit in WITHIN]
    hist = torch.histc(errors, bins=BINS, min=0, max=180)
    return torch.cat([torch.stack([errors.new_tensor(errors.numel()), errors.sum(), *within]), hist]).double()


def normal_scores(stats: Tensor) -> dict[str, float]:
    """mean_angle, median_angle (degrees; median to within BIN_DEGREES / 2) and the percentage of
    pixels within 11.25, 22.5 and 30 degrees."""
    count, total = stats[0].item(), stats[1].item()
    if count == 0:
        return {"mean_angle": math.nan, "median_angle": math.nan,
                **{f"within_{limit:g}": math.nan for limit in WITHIN}}
    hist = stats[2 + len(WITHIN):]
    median_bin = int(torch.searchsorted(hist.cumsum(0), torch.tensor(count / 2, dtype=torch.float64)))
    scores = {"mean_angle": total / count, "median_angle": (median_bin + 0.5) * BIN_DEGREES}
    for i, limit in enumerate(WITHIN):
        scores[f"within_{limit:g}"] = 100 * stats[2 + i].item() / count
    return scores

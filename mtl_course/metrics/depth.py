"""Depth errors over valid pixels (target > 0 and finite), from sums that add up over batches."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def depth_sums(pred: Tensor, target: Tensor) -> Tensor:
    """Inputs: pred, target float [B, 1, H, W] (metres). Returns float64 [4]:
    (valid pixels, sum |d|, sum |d| / target, sum d^2) with d = pred - target."""
    valid = (target > 0) & torch.isfinite(target)
    diff = (pred - target)[valid].double()
    return torch.stack([valid.sum().double(), diff.abs().sum(), (diff.abs() / target[valid].double()).sum(),
                        (diff * diff).sum()])


def depth_scores(sums: Tensor) -> dict[str, float]:
    """abs_err (mean |d|, metres), rel_err (mean |d| / depth) and rmse (sqrt of mean d^2)."""
    count, abs_sum, rel_sum, sq_sum = sums.tolist()
    if count == 0:
        return {"abs_err": math.nan, "rel_err": math.nan, "rmse": math.nan}
    return {"abs_err": abs_sum / count, "rel_err": rel_sum / count, "rmse": math.sqrt(sq_sum / count)}

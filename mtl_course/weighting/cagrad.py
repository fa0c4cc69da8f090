"""CAGrad (Liu et al., NeurIPS 2021, "Conflict-averse gradient descent for multi-task learning").

Stay near the average gradient g0 while improving the worst task: with phi = c^2 ||g0||^2,

    w = argmin_{w in simplex}  g_w . g0 + sqrt(phi) * ||g_w||,     g_w = sum_t w_t g_t
    d = (g0 + sqrt(phi) / ||g_w|| * g_w) / (1 + c^2)              (the official code's rescale=1)

c = 0 gives d = g0 (plain averaging). The inner problem is convex in w; we solve it over the Gram
matrix by projected gradient descent (the official code calls scipy's SLSQP).
Scale: the paper's d is built on the *mean* gradient; ours is T times that (sum convention).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mtl_course.weighting.base import GradientWeighting


def project_to_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto {w >= 0, sum w = 1} (sort-based, Held et al. 1974)."""
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1
    k = np.nonzero(u - cumulative / np.arange(1, len(v) + 1) > 0)[0][-1]
    return np.maximum(v - cumulative[k] / (k + 1), 0)


def cagrad_inner(gram: np.ndarray, c: float, steps: int = 300) -> np.ndarray:
    """The w of CAGrad: minimise w.b + sqrt(phi) sqrt(w^T M w) over the simplex, M = gram."""
    n = len(gram)
    b = gram.mean(axis=1)                               # g_w . g0 = w^T M 1/T
    sqrt_phi = c * np.sqrt(max(gram.mean(), 0.0))       # ||g0|| = sqrt(1^T M 1) / T
    w = np.full(n, 1.0 / n)
    step = 1.0 / (np.abs(gram).max() + 1e-12)
    best, best_value = w, np.inf
    for _ in range(steps):
        norm = np.sqrt(max(w @ gram @ w, 1e-20))
        value = w @ b + sqrt_phi * norm
        if value < best_value:
            best, best_value = w, value
        w = project_to_simplex(w - step * (b + sqrt_phi * gram @ w / norm))
    return best


class CAGrad(GradientWeighting):
    name = "cagrad"

    def __init__(self, c: float = 0.5) -> None:
        super().__init__()
        if c < 0:
            raise ValueError(f"CAGrad's c must be >= 0, got {c}")
        self.c = float(c)

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        n = gram.shape[0]
        matrix = gram.numpy()
        w = cagrad_inner(matrix, self.c)
        sqrt_phi = self.c * np.sqrt(max(matrix.mean(), 0.0))
        norm_gw = np.sqrt(max(w @ matrix @ w, 1e-20))
        alpha = (np.full(n, 1.0 / n) + sqrt_phi / norm_gw * w) / (1 + self.c ** 2)
        return torch.from_numpy(n * alpha)

    def __repr__(self) -> str:
        return f"CAGrad(c={self.c})"

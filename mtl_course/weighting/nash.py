"""Nash-MTL (Navon et al., ICML 2022, "Multi-task learning as a bargaining game").

The weights alpha > 0 solve  G G^T alpha = 1 / alpha  (elementwise): the Nash bargaining solution, in
which each task's share <d, g_t> = 1 / alpha_t. As in the official code, G G^T is first divided by its
Frobenius norm, which fixes the scale of d (the paper's scale; we keep it).

The equation is the stationarity condition of the strictly convex  1/2 a^T M a - sum_t log a_t, so we
solve it exactly with Newton's method (the official code uses a sequence of convex programs via cvxpy).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting.base import GradientWeighting


def nash_weights(gram: Tensor, iterations: int = 100) -> Tensor:
    """alpha > 0 with gram @ alpha = 1 / alpha (gram float64 [T, T], positive definite)."""
    alpha = torch.ones(gram.shape[0], dtype=gram.dtype)
    for _ in range(iterations):
        residual = gram @ alpha - 1 / alpha                         # gradient of the convex objective
        if residual.abs().max() < 1e-12:
            break
        step = torch.linalg.solve(gram + torch.diag(1 / alpha ** 2), residual)
        scale = 1.0
        while (alpha - scale * step).min() <= 0:                   # stay inside alpha > 0
            scale /= 2
        alpha = alpha - scale * step
    return alpha


class NashMTL(GradientWeighting):
    name = "nash"

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        size = torch.linalg.matrix_norm(gram)
        if size == 0:
            return torch.ones(gram.shape[0], dtype=gram.dtype)
        normalised = gram / size
        # a tiny ridge keeps the problem solvable when gradients cancel exactly (G G^T singular)
        ridge = 1e-8 * torch.eye(gram.shape[0], dtype=gram.dtype)
        return nash_weights(normalised + ridge)

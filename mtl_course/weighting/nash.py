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


def nash_weights(gram: Tensor, iterations: int = 30) -> Tensor:
    """alpha > 0 with gram @ alpha = 1 / alpha (gram float64 [T, T], positive definite).

    A fixed number of Newton steps (no test of convergence, so nothing is read back from the device): Newton's
    method converges quadratically, and a step at the solution is 0 (tests/test_weighting.py checks the residual).
    Each step is halved until alpha stays > 0: the number of halvings is computed, not searched for."""
    alpha = torch.ones(gram.shape[0], dtype=gram.dtype, device=gram.device)
    for _ in range(iterations):
        residual = gram @ alpha - 1 / alpha                         # gradient of the convex objective
        step = torch.linalg.solve_ex(gram + torch.diag(1 / alpha ** 2), residual)[0]   # _ex: no host check
        # the largest scale 2^-k (k >= 0) with alpha - scale * step > 0: scale < room = min over step > 0 of alpha/step
        room = torch.where(step > 0, alpha / step, torch.inf).min()
        halvings = torch.where(room > 1, 0.0, torch.floor(-torch.log2(room)) + 1)
        alpha = alpha - torch.exp2(-halvings) * step
    return alpha


class NashMTL(GradientWeighting):
    name = "nash"

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        size = torch.linalg.matrix_norm(gram)
        normalised = gram / size.clamp_min(1e-300)
        # a tiny ridge keeps the problem solvable when gradients cancel exactly (G G^T singular)
        ridge = 1e-8 * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        alpha = nash_weights(normalised + ridge)
        return torch.where(size > 0, alpha, torch.ones_like(alpha))       # all gradients 0: any weights do

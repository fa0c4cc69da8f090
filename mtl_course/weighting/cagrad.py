"""CAGrad (Liu et al., NeurIPS 2021, "Conflict-averse gradient descent for multi-task learning").

Stay near the average gradient g0 while improving the worst task: with phi = c^2 ||g0||^2,

    w = argmin_{w in simplex}  g_w . g0 + sqrt(phi) * ||g_w||,     g_w = sum_t w_t g_t
    d = (g0 + sqrt(phi) / ||g_w|| * g_w) / (1 + c^2)              (the official code's rescale=1)

c = 0 gives d = g0 (plain averaging). The inner problem is convex in w; the official code calls scipy's SLSQP.
We solve it exactly over the Gram matrix M = G G^T, support by support (as MGDA's solver in _qp.py): where the
optimal w is > 0 on a set S, its gradient b + sqrt(phi) M w / ||g_w|| is the same on all of S, which gives

    w_S  proportional to  M_SS^-1 (lambda 1 - b_S),   (lambda 1 - b_S)^T M_SS^-1 (lambda 1 - b_S) = phi

(a quadratic in lambda; the larger root makes w's sum positive). Every S and every vertex of the simplex is
tried at once; the feasible candidate with the lowest objective wins. No iterations, no sync with the host.
Exact for up to 12 tasks (the supports of _qp.py). Scale: the paper's d is built on the *mean* gradient; ours is
T times that (sum convention).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting._qp import face_systems, min_norm_in_simplex
from mtl_course.weighting.base import GradientWeighting

TOLERANCE = 1e-10


def cagrad_inner(gram: Tensor, c: float) -> Tensor:
    """The w of CAGrad (gram float64 [T, T]): minimise w.b + sqrt(phi) sqrt(w^T M w) over the simplex, M = gram,
    b = M 1 / T (so w.b = g_w . g0), phi = c^2 ||g0||^2."""
    n = gram.shape[0]
    b = gram.mean(dim=1)
    sqrt_phi = c * gram.mean().clamp_min(0).sqrt()                  # ||g0|| = sqrt(1^T M 1) / T
    S, A = face_systems(gram)                                       # S [K, n]; A_k = M_SS (identity outside S)
    inverse = torch.linalg.inv_ex(A)[0] * S[:, :, None] * S[:, None, :]   # M_SS^-1, zero outside S (_qp.py)
    ones, b_S = S, b * S                                            # 1_S, b_S: [K, n]
    inv_ones, inv_b = (inverse @ ones[..., None])[..., 0], (inverse @ b_S[..., None])[..., 0]
    a, beta, gamma = (ones * inv_ones).sum(1), (ones * inv_b).sum(1), (b_S * inv_b).sum(1)
    disc = beta ** 2 - a * (gamma - sqrt_phi ** 2)                  # a lambda^2 - 2 beta lambda + gamma = phi
    lam = (beta + disc.clamp_min(0).sqrt()) / a.clamp_min(1e-300)
    v = lam[:, None] * inv_ones - inv_b                             # M_SS^-1 (lambda 1 - b_S)
    total = v.sum(1, keepdim=True)
    w = v / torch.where(total > 0, total, 1.0)
    feasible = (disc >= 0) & (a > 0) & (total[:, 0] > 0) & ((w >= -TOLERANCE) | (S == 0)).all(1)
    w = w.clamp_min(0) * S
    w = w / w.sum(1, keepdim=True).clamp_min(1e-300)
    # + every vertex, and MGDA's min-norm point: where g_w = 0 the objective is not differentiable (it is 0 there)
    candidates = torch.cat([w, torch.eye(n, dtype=gram.dtype, device=gram.device), min_norm_in_simplex(gram)[None]])
    feasible = torch.cat([feasible, torch.ones(n + 1, dtype=torch.bool, device=gram.device)])
    norms = torch.einsum("ki,ij,kj->k", candidates, gram, candidates).clamp_min(0).sqrt()
    value = torch.where(feasible, candidates @ b + sqrt_phi * norms, torch.inf)
    return candidates.index_select(0, value.argmin().reshape(1))[0]


class CAGrad(GradientWeighting):
    name = "cagrad"

    def __init__(self, c: float = 0.5) -> None:
        super().__init__()
        if c < 0:
            raise ValueError(f"CAGrad's c must be >= 0, got {c}")
        self.c = float(c)

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        n = gram.shape[0]
        w = cagrad_inner(gram, self.c)
        sqrt_phi = self.c * gram.mean().clamp_min(0).sqrt()
        norm_gw = (w @ gram @ w).clamp_min(0).sqrt()
        # g_w = 0 (0 lies in the gradients' hull): no direction to bend towards, d = g0 / (1 + c^2)
        bend = torch.where(norm_gw > 1e-8 * gram.diagonal().max().clamp_min(0).sqrt(), sqrt_phi / norm_gw, 0.0)
        alpha = (1.0 / n + bend * w) / (1 + self.c ** 2)
        return n * alpha

    def __repr__(self) -> str:
        return f"CAGrad(c={self.c})"

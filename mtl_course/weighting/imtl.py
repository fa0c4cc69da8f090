"""IMTL-G (Liu et al., ICLR 2021, "Towards impartial multi-task learning"), gradient part, closed form.

Find d = sum_t alpha_t g_t (sum alpha = 1) whose projections on every *unit* task gradient are equal:
<d, u_1> = <d, u_t> for all t, u_t = g_t / ||g_t||. With D_t = g_1 - g_t and U_t = u_1 - u_t (t = 2..T):

    alpha_{2..T} = g_1 U^T (D U^T)^{-1},    alpha_1 = 1 - sum_{t>=2} alpha_t

No task is favoured because of its gradient's size or direction. Computed from the Gram matrix.
Scale: the paper's weights sum to 1; ours sum to T (sum convention).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting.base import GradientWeighting


class IMTL(GradientWeighting):
    name = "imtl"

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        n = gram.shape[0]
        if n == 1:
            return torch.ones(1, dtype=gram.dtype, device=gram.device)
        norms = gram.diagonal().clamp_min(1e-20).sqrt()
        # inner products <g_a, u_b> = gram[a, b] / norms[b]
        g_dot_u = gram / norms
        # D U^T [t, s] = <g_1 - g_t, u_1 - u_s>;  g_1 U^T [s] = <g_1, u_1 - u_s>  (t, s = 2..T)
        d_u = (g_dot_u[0, 0] - g_dot_u[0, 1:]).unsqueeze(0) - (g_dot_u[1:, 0:1] - g_dot_u[1:, 1:])
        g1_u = g_dot_u[0, 0] - g_dot_u[0, 1:]
        # least squares A rest = g1_u (A = d_u^T), through the normal equations with a tiny ridge: stays finite when
        # two unit gradients are equal (A singular: then ~ the minimum-norm solution, as lstsq gives), and solve_ex
        # reads no error flag back to the host. A's columns are scaled to norm 1 first (they carry the gradients'
        # sizes, which can differ by orders of magnitude: unscaled, the normal equations would lose the digits)
        A = d_u.T
        size = A.norm(dim=0).clamp_min(1e-30)
        normal = (A / size).T @ (A / size)
        ridge = (1e-14 * normal.diagonal().sum() + 1e-30) * torch.eye(n - 1, dtype=gram.dtype, device=gram.device)
        rest = torch.linalg.solve_ex(normal + ridge, (A / size).T @ g1_u)[0] / size
        alpha = torch.cat([(1 - rest.sum()).unsqueeze(0), rest])
        return n * alpha

"""UPGrad (Quinton & Rey, 2024, "Jacobian descent for multi-objective optimization"; TorchJD).

Project each task gradient g_i onto the dual cone {x : <x, g_t> >= 0 for every t} of all task gradients,
then add the projections. d therefore never conflicts with any task: <d, g_t> >= 0 for all t.

The projection of g_i is g_i + sum_t mu_t g_t, where mu >= 0 minimises
1/2 mu^T M mu + mu^T M e_i  (M = G G^T, the dual of the projection), so every quantity comes from M.
Scale: TorchJD averages the projections; we add them (T times, sum convention).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting._qp import nonnegative_qp
from mtl_course.weighting.base import GradientWeighting


class UPGrad(GradientWeighting):
    name = "upgrad"

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        # row i of the T problems: q = M e_i = gram[i] (M is symmetric); each alpha_i = e_i + mu_i
        return 1.0 + nonnegative_qp(gram, gram).sum(dim=0)

"""MGDA (Désidéri 2012; Sener & Koltun, NeurIPS 2018, "Multi-task learning as multi-objective optimization").

d is the point of minimum norm in the convex hull of the task gradients:

    alpha = argmin_{alpha >= 0, sum alpha = 1} || sum_t alpha_t g_t ||^2

If d != 0, it decreases every task's loss at once (<d, g_t> >= ||d||^2 > 0 for all t); d = 0 means the
point is Pareto-stationary. Solved exactly over the Gram matrix (the paper uses Frank-Wolfe).
With fit(grad_level="features") this is the paper's MGDA-UB (gradients of the shared features).
Scale: the paper's weights sum to 1; ours sum to T (sum convention). No gradient normalisation.
"""

from __future__ import annotations

from torch import Tensor

from mtl_course.weighting._qp import min_norm_in_simplex
from mtl_course.weighting.base import GradientWeighting


class MGDA(GradientWeighting):
    name = "mgda"

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        return gram.shape[0] * min_norm_in_simplex(gram)

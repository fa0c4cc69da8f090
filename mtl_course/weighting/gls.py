"""Geometric loss strategy (Chennupati et al., CVPR-W 2019): minimise the geometric mean of the losses.

    GLS = (prod_t L_t)^(1/T),   dGLS/dL_t = GLS / (T * L_t)

so it is a sum of the losses with weights GLS / (T L_t): a task's weight is inversely proportional to its
loss. Multiplying one loss by a constant scales every task's contribution w_t * grad L_t by the same factor,
so the balance between tasks ignores the losses' units.
Scale: we apply w_t = GLS / L_t, T times the gradient of the paper's objective (sum convention).
"""

from __future__ import annotations

from torch import Tensor

from mtl_course.weighting.base import Weighting


class GLS(Weighting):
    name = "gls"

    def weights(self, losses: Tensor) -> Tensor:
        losses = losses.clamp_min(1e-12)
        geometric_mean = losses.log().mean().exp()
        return geometric_mean / losses

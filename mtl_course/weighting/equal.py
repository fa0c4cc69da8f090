"""Equal weighting: every task loss counts once (weights 1; the objective is the plain sum)."""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting.base import Weighting


class Equal(Weighting):
    name = "equal"

    def weights(self, losses: Tensor) -> Tensor:
        return torch.ones_like(losses)

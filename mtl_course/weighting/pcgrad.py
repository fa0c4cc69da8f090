"""PCGrad (Yu et al., NeurIPS 2020, "Gradient surgery for multi-task learning").

For each task i, visit the other tasks j in a random order; if g_i (as projected so far) conflicts with the
*original* g_j (negative inner product), remove its component along g_j:

    g_i <- g_i - (g_i . g_j) / ||g_j||^2 * g_j

d = sum_i g_i (the paper's sum; our scale too). Every projected g_i stays a combination of the original
gradients, so we track its coefficients (row i of `coef`) using only inner products from the Gram matrix;
the effective weights are the column sums of `coef`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting.base import GradientWeighting


class PCGrad(GradientWeighting):
    name = "pcgrad"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        n = gram.shape[0]
        coef = torch.eye(n, dtype=gram.dtype, device=gram.device)   # projected g_i = coef[i] @ G
        for i in range(n):
            for j in torch.randperm(n, generator=self.generator).tolist():   # the order: from the host's generator
                if j == i:
                    continue
                dot = coef[i] @ gram[:, j]                                  # <projected g_i, g_j>
                conflict = (dot < 0) & (gram[j, j] > 0)                      # on the device: no read back
                coef[i, j] -= torch.where(conflict, dot / gram[j, j], 0.0)
        return coef.sum(dim=0)

    def __repr__(self) -> str:
        return f"PCGrad(seed={self.seed})"

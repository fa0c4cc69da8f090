"""Aligned-MTL (Senushkin et al., CVPR 2023, "Independent component alignment for multi-task learning").

Replace the task gradients by the closest set of orthogonal gradients of equal size: with the eigen-
decomposition G G^T = V diag(lambda) V^T (rank r, lambda descending),

    B = sqrt(lambda_min) * V diag(1 / sqrt(lambda)) V^T          aligned gradients  G~ = B G
    d = sum_t G~_t = (B^T 1) @ G                                   alpha = column sums of B

so the aligned gradients satisfy G~ G~^T = lambda_min * I (on the rank-r subspace): no conflict, no
dominance. Same as LibMTL's version, which calls torch.symeig (removed in torch 2.x): we use
torch.linalg.eigh (on a GPU it reads an error flag back to the host: the one gradient method with a sync per
step). Scale: pre-weights 1 and a sum, as in the paper (sum convention).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting.base import GradientWeighting


class AlignedMTL(GradientWeighting):
    name = "aligned"

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        eigenvalues, vectors = torch.linalg.eigh(gram)                     # ascending
        tolerance = eigenvalues[-1].clamp_min(0) * gram.shape[0] * torch.finfo(gram.dtype).eps
        kept = eigenvalues > tolerance                                     # the rank-r subspace (a mask: no sync)
        smallest = torch.where(kept, eigenvalues, torch.inf).min()         # lambda_min of the kept ones
        inverse_sqrt = torch.where(kept, eigenvalues.clamp_min(tolerance).rsqrt(), 0.0)
        balance = smallest.sqrt() * (vectors * inverse_sqrt) @ vectors.T
        return torch.where(kept.any(), balance.sum(dim=0), torch.ones_like(eigenvalues))   # rank 0: plain sum

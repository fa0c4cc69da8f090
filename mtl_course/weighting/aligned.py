"""Aligned-MTL (Senushkin et al., CVPR 2023, "Independent component alignment for multi-task learning").

Replace the task gradients by the closest set of orthogonal gradients of equal size: with the eigen-
decomposition G G^T = V diag(lambda) V^T (rank r, lambda descending),

    B = sqrt(lambda_min) * V diag(1 / sqrt(lambda)) V^T          aligned gradients  G~ = B G
    d = sum_t G~_t = (B^T 1) @ G                                   alpha = column sums of B

so the aligned gradients satisfy G~ G~^T = lambda_min * I (on the rank-r subspace): no conflict, no
dominance. Same as LibMTL's version, which calls torch.symeig (removed in torch 2.x): we use
torch.linalg.eigh. Scale: pre-weights 1 and a sum, as in the paper (sum convention).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting.base import GradientWeighting


class AlignedMTL(GradientWeighting):
    name = "aligned"

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        eigenvalues, vectors = torch.linalg.eigh(gram)
        order = torch.argsort(eigenvalues, descending=True)
        eigenvalues, vectors = eigenvalues[order], vectors[:, order]
        tolerance = eigenvalues[0].clamp_min(0) * gram.shape[0] * torch.finfo(gram.dtype).eps
        rank = int((eigenvalues > tolerance).sum())
        if rank == 0:
            return torch.ones(gram.shape[0], dtype=gram.dtype)
        eigenvalues, vectors = eigenvalues[:rank], vectors[:, :rank]
        balance = eigenvalues[-1].sqrt() * (vectors @ torch.diag(1 / eigenvalues.sqrt()) @ vectors.T)
        return balance.sum(dim=0)

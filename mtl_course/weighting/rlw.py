"""Random Loss Weighting (Lin et al., TMLR 2022, "Reasonable effectiveness of random weighting").

Every step draws fresh weights: w = T * softmax(z), z ~ N(0, I). A baseline that any adaptive method
should beat. Scale: the paper's weights sum to 1; ours sum to T (sum convention).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtl_course.weighting.base import Weighting


class RLW(Weighting):
    name = "rlw"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def weights(self, losses: Tensor) -> Tensor:
        z = torch.randn(losses.numel(), generator=self.generator)          # on the host: the same draws on any device
        if losses.device.type == "cuda":      # from pinned memory, asynchronously: the host does not wait for the GPU
            z = z.pin_memory().to(losses.device, non_blocking=True)
        return (losses.numel() * torch.softmax(z, dim=0)).to(losses.device, losses.dtype)

    def __repr__(self) -> str:
        return f"RLW(seed={self.seed})"

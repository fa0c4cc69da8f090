"""Random Loss Weighting (Lin et al., TMLR 2022, "Reasonable effectiveness of random weighting").

Every step draws fresh weights: w = T * softmax(z), z ~ N(0, I). A baseline that any adaptive method
should beat. Scale: the paper's weights sum to 1; ours sum to T (sum convention).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from mtl_course.weighting.base import Weighting


class RLW(Weighting):
    name = "rlw"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def setup(self, task_names: Sequence[str], device: torch.device | str = "cpu") -> None:
        super().setup(task_names)
        self.generator = torch.Generator(device).manual_seed(self.seed)   # draws on the device: no copy per step

    def weights(self, losses: Tensor) -> Tensor:
        z = torch.randn(losses.numel(), generator=self.generator, device=self.generator.device)
        return (losses.numel() * torch.softmax(z, dim=0)).to(losses.device, losses.dtype)

    def __repr__(self) -> str:
        return f"RLW(seed={self.seed})"

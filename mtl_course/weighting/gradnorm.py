"""GradNorm (Chen et al., ICML 2018): tune the weights so that every task's gradient has a fair size.

At each step, with g_t the gradient of L_t on the shared part (fit's `grad_level` decides which: the
shared parameters, or the shared features as in the paper's "last shared layer" advice):

    G_t  = w_t * ||g_t||                 the size of task t's weighted gradient
    r_t  = (L_t / L_t(0)) / mean_s (L_s / L_s(0))      how slowly task t trains (its inverse training rate)
    target_t = mean_s(G_s) * r_t ** alpha              slow tasks should get larger gradients
    L_grad = sum_t | G_t - target_t |                  (targets held constant, as in the paper)

The weights take one Adam step on L_grad, then are renormalised to sum to T (the paper's scale and ours).
alpha = 1.5 as in the paper; `lr` is the weights' own learning rate.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from mtl_course.weighting.base import Weighting


class GradNorm(Weighting):
    name = "gradnorm"
    needs_grads = True

    def __init__(self, alpha: float = 1.5, lr: float = 0.025) -> None:
        super().__init__()
        self.alpha, self.lr = float(alpha), float(lr)
        self.task_weights = torch.ones(0)
        self.initial_losses: Tensor | None = None

    def setup(self, task_names: Sequence[str], device: torch.device | str = "cpu") -> None:
        super().setup(task_names)
        self.task_weights = torch.ones(len(task_names), device=device, requires_grad=True)   # on the device: no sync
        self.optimizer = torch.optim.Adam([self.task_weights], lr=self.lr)
        self.initial_losses = None

    def weights(self, losses: Tensor, grads: Tensor | None = None) -> Tensor:
        losses = losses.detach().float().to(self.task_weights.device)
        norms = grads.detach().float().norm(dim=1).to(self.task_weights.device)    # ||g_t||, [T]
        if self.initial_losses is None:
            self.initial_losses = losses.clamp_min(1e-12)
        self.initial_losses = self.initial_losses.to(losses.device)        # restored from a checkpoint: on the CPU
        applied = self.task_weights.detach().clone()                        # the weights of this step
        inverse_rate = losses / self.initial_losses
        inverse_rate = inverse_rate / inverse_rate.mean()
        sizes = self.task_weights * norms                                   # G_t, differentiable in w
        target = (sizes.mean() * inverse_rate ** self.alpha).detach()
        self.optimizer.zero_grad()
        (sizes - target).abs().sum().backward()
        self.optimizer.step()
        with torch.no_grad():                                               # keep w > 0 and sum w = T
            self.task_weights.clamp_(min=1e-3)
            self.task_weights.mul_(len(losses) / self.task_weights.sum())
        return applied.to(grads.device)

    def __repr__(self) -> str:
        return f"GradNorm(alpha={self.alpha}, lr={self.lr})"

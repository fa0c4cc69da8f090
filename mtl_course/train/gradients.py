"""Per-task gradients of the shared part of a model: what gradient-based weighting works on.

Two levels (fit's `grad_level`):
- "params":   g_t = dL_t / d(shared parameters). Exact, but one backward pass through the whole shared
              network per task (T passes).
- "features": g_t = dL_t / d(shared representation), the features the task heads read (Sener & Koltun's
              MGDA-UB). Cheap: the T backward passes stop at the features; one pass then carries the
              combined gradient d through the shared network.

    step = SharedGradients(model, level)
    outputs = step.forward(images)
    losses = ...                                   # [T], one per task
    G = step.task_gradients(losses)               # [T, P]
    step.apply(d, torch.ones(T))                   # shared part gets d, each head its own task's gradient
    step.apply(w @ G, w)                           # = the backward of sum_t w_t L_t (loss-based strategies)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

LEVELS = ("params", "features")


def pairwise_cosines(grads: Tensor) -> Tensor:
    """grads: [T, P] -> [T, T] cosine similarity between the task gradients (0 where a gradient is 0)."""
    unit = grads.float() / grads.float().norm(dim=1, keepdim=True).clamp_min(1e-20)
    return unit @ unit.T


class SharedGradients:
    """Per-task gradients of the shared part of a hard-sharing model, for one training step."""

    def __init__(self, model: nn.Module, level: str = "params") -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown grad_level {level!r}; valid values are {list(LEVELS)}")
        if not hasattr(model, "shared_parameters"):
            raise ValueError(f"{type(model).__name__} has no shared parameters, so there are no per-task shared "
                             f"gradients to compare or combine; build it with build_model(tasks, sharing='hard')")
        self.model, self.level = model, level
        self.shared = model.shared_parameters()
        if not self.shared:
            raise ValueError("the model's shared part has no trainable parameters (is it frozen?)")
        shared_ids = {id(p) for p in self.shared}
        self.specific = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        if self.level == "params":
            return self.model(images)
        self.representation = self.model.shared_representation(images)
        self.inputs = [r.detach().requires_grad_() for r in self.representation]
        return self.model.task_outputs(self.inputs, (images.shape[-2], images.shape[-1]))

    def _wrt(self) -> Sequence[Tensor]:
        return self.shared if self.level == "params" else self.inputs

    def task_gradients(self, losses: Tensor) -> Tensor:
        """losses: [T] (with graph) -> G float [T, P], row t = dL_t / d(shared part), flattened.

        The same backward pass also keeps each task's gradient of its own head, so that no further pass
        through the heads is needed afterwards."""
        wrt = list(self._wrt())
        rows, self.specific_grads = [], []
        for loss in losses:
            grads = torch.autograd.grad(loss, [*wrt, *self.specific], retain_graph=True, allow_unused=True)
            rows.append(torch.cat([(g if g is not None else torch.zeros_like(w)).reshape(-1).float()
                                   for g, w in zip(grads[:len(wrt)], wrt)]))
            self.specific_grads.append(grads[len(wrt):])
        return torch.stack(rows)

    def _split(self, flat: Tensor) -> list[Tensor]:
        pieces, start = [], 0
        for w in self._wrt():
            pieces.append(flat[start:start + w.numel()].view_as(w).to(w.dtype))
            start += w.numel()
        return pieces

    def apply(self, direction: Tensor, head_weights: Tensor) -> None:
        """Set the gradients: the shared part gets `direction` [P] (a vector over the level's inputs), the
        task-specific parameters get sum_t head_weights[t] * (task t's own gradient)."""
        for i, p in enumerate(self.specific):
            total = None
            for weight, grads in zip(head_weights.tolist(), self.specific_grads):
                if grads[i] is not None:
                    total = weight * grads[i] if total is None else total + weight * grads[i]
            if total is not None:
                p.grad = total if p.grad is None else p.grad + total
        pieces = self._split(direction)
        if self.level == "params":
            for p, g in zip(self.shared, pieces):
                p.grad = g.contiguous() if p.grad is None else p.grad + g
        else:
            torch.autograd.backward(self.representation, pieces)
        self.specific_grads = []

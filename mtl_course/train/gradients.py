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


def _channels_last(t: Tensor) -> bool:
    return t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def flatten(t: Tensor, like: Tensor) -> Tensor:
    """t as a vector, in the element order of `like`'s memory (channels_last: N, H, W, C), so that a
    gradient laid out like its tensor is flattened without a copy."""
    return (t.permute(0, 2, 3, 1) if _channels_last(like) else t).reshape(-1)


def unflatten(flat: Tensor, like: Tensor) -> Tensor:
    """The inverse of flatten(t, like): a tensor shaped and laid out like `like`."""
    if _channels_last(like):
        n, c, h, w = like.shape
        return flat.view(n, h, w, c).permute(0, 3, 1, 2)
    return flat.view_as(like)


def pairwise_cosines(grads: Tensor | None = None, gram: Tensor | None = None) -> Tensor:
    """[T, T] cosine similarity between the task gradients grads [T, P] (0 where a gradient is 0),
    computed from the Gram matrix G G^T (pass `gram` if you have it)."""
    gram = gram if gram is not None else grads.float() @ grads.float().T
    norms = gram.diagonal().clamp_min(0).sqrt().clamp_min(1e-20)
    return gram / norms[:, None] / norms[None, :]


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
            rows.append(torch.cat([flatten(g if g is not None else torch.zeros_like(w), w).float()
                                   for g, w in zip(grads[:len(wrt)], wrt)]))
            self.specific_grads.append(grads[len(wrt):])
        return torch.stack(rows)

    def _split(self, flat: Tensor) -> list[Tensor]:
        pieces, start = [], 0
        for w in self._wrt():
            pieces.append(unflatten(flat[start:start + w.numel()].to(w.dtype), w))
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
                p.grad = g if p.grad is None else p.grad + g
        else:
            torch.autograd.backward(self.representation, pieces)
        self.specific_grads = []

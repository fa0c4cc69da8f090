"""Per-task gradients of the shared part of a model: the matrix G that gradient-based weighting works on.

    G, used, own = task_gradients(losses, wrt, heads)   # G [T, P]: row t = dL_t / d(wrt), flattened
    cosines = pairwise_cosines(gram=G @ G.T)             # [T, T]

`wrt` is what fit's `grad_level` says is shared: "params" (the trunk's parameters; T backward passes through
the whole trunk) or "features" (the trunk's output, Sener & Koltun's MGDA-UB: the T backward passes stop at
the features, and one pass then carries the combined gradient d through the trunk). See step.gradient_step.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

LEVELS = ("params", "features")
BATCHED_ON = ("cuda",)     # device types where task_gradients batches the T backward passes by default


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


def split(flat: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """A vector [P] cut into tensors shaped (and laid out) like each of `like`, in order: the inverse of
    concatenating flatten(t_i, like_i)."""
    pieces, start = [], 0
    for w in like:
        pieces.append(unflatten(flat[start:start + w.numel()].to(w.dtype), w))
        start += w.numel()
    return pieces


def pairwise_cosines(grads: Tensor | None = None, gram: Tensor | None = None) -> Tensor:
    """[T, T] cosine similarity between the task gradients grads [T, P] (0 where a gradient is 0),
    computed from the Gram matrix G G^T (pass `gram` if you have it)."""
    gram = gram if gram is not None else grads.float() @ grads.float().T
    norms = gram.diagonal().clamp_min(0).sqrt().clamp_min(1e-20)
    return gram / norms[:, None] / norms[None, :]


def task_gradients(losses: Tensor, wrt: Sequence[Tensor], own: Sequence[Tensor] = (),
                   batched: bool | None = None) -> tuple[Tensor, list[int], list[tuple[Tensor | None, ...]]]:
    """Each task's gradient of the shared tensors `wrt`: one backward pass per task, or all T at once.

    Inputs:
        losses: float [T], still attached to the graph
        wrt:    the shared tensors (trunk parameters, or the features the heads read)
        own:    the task-specific parameters; the same backward passes give their gradients for free
    Returns:
        G     float [T, P]: row t = dL_t / d(wrt), flattened, over the `wrt` tensors some loss reaches
        used  the indices of those tensors in `wrt` (P = their total size)
        own_grads  own_grads[t][i] = dL_t / d(own[i]), None where no task reaches own[i] (when batched: zeros
              where task t does not reach it but another task does)
    batched: False: T calls of torch.autograd.grad, one per loss. True: one call that backpropagates the T rows
        of the identity at once (is_grads_batched=True: the backward pass is vmapped over the tasks; the same
        numbers, fewer and larger kernels). None: batched on the device types in BATCHED_ON (a CUDA GPU, where
        kernel launches dominate), one by one elsewhere (on a CPU the batched call is ~10 % slower).
        benchmarks/bench_weighting.py times both.
    """
    batched = losses.device.type in BATCHED_ON if batched is None else batched
    if batched:
        identity = torch.eye(len(losses), dtype=losses.dtype, device=losses.device)   # row t: pick L_t
        grads = torch.autograd.grad(losses, [*wrt, *own], grad_outputs=identity, retain_graph=True,
                                    allow_unused=True, is_grads_batched=True)          # each [T, *shape] or None
        per_task = [tuple(g[t] if g is not None else None for g in grads) for t in range(len(losses))]
    else:
        per_task = [torch.autograd.grad(loss, [*wrt, *own], retain_graph=True, allow_unused=True) for loss in losses]
    rows, own_grads = [g[:len(wrt)] for g in per_task], [g[len(wrt):] for g in per_task]
    used = [i for i in range(len(wrt)) if any(row[i] is not None for row in rows)]
    G = torch.stack([torch.cat([flatten(row[i] if row[i] is not None else torch.zeros_like(wrt[i]), wrt[i]).float()
                                for i in used]) for row in rows])
    return G, used, own_grads

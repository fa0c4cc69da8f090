"""One training step: the two ways the course trains a multi-task network.

plain_step       forward, one loss per task, task weights, their weighted sum, backward, optimiser step.
gradient_step    the same forward, then each task's gradient of the shared part (a row of G [T, P]);
                 the strategy turns G into the shared gradient d = weighting.combine(G, L), and each head
                 keeps its own task's gradient (the convention of LibMTL and TorchJD).

fit (loop.py) calls one of the two for every batch; everything else in fit is bookkeeping.
On a CUDA GPU the forward pass runs under bf16 autocast; losses are always float32. Neither step reads a value
back from the device (no host sync) when fit's fused optimiser lets the NaN check stay there (finite.py).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from mtl_course.models import MultiTaskNet
from mtl_course.tasks import Task
from mtl_course.train.finite import FiniteCheck
from mtl_course.train.gradients import split, task_gradients
from mtl_course.weighting import Weighting

Penalty = Callable[[nn.Module], Tensor]


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a CUDA GPU; nothing on a CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def model_inputs(model: MultiTaskNet, batch: Mapping[str, Tensor]) -> Tensor:
    """batch[model.input_key], images in the channels_last layout (faster convolutions on CPUs and GPUs)."""
    x = batch[model.input_key]
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def task_losses(tasks: Sequence[Task], outputs: Mapping[str, Tensor], batch: Mapping[str, Tensor]) -> Tensor:
    """float [T]: each task's loss on the batch."""
    return torch.stack([task.loss(*task.inputs(outputs, batch)) for task in tasks])   # (output, target) each


def plain_step(model: MultiTaskNet, tasks: Sequence[Task], batch: Mapping[str, Tensor], weighting: Weighting,
               optimizer: torch.optim.Optimizer, penalty: Penalty | None = None,
               forward: nn.Module | None = None, check: FiniteCheck | None = None) -> tuple[Tensor, Tensor]:
    """One optimiser step on sum_t w_t L_t. Returns (losses [T], weights [T]), detached.

    forward: the module that runs the forward pass, if not `model` itself: DistributedDataParallel(model) under
    torchrun (which then averages the gradients over the processes during backward), or a torch.compile'd model.
    check: the NaN/inf check (finite.py); None: a FloatingPointError here if a loss is NaN or inf, before the update.
    """
    optimizer.zero_grad(set_to_none=True)
    with autocast(batch[model.input_key].device):
        outputs = (forward or model)(model_inputs(model, batch))    # one forward pass: trunk, then every head
    losses = task_losses(tasks, outputs, batch)                     # [T]: one loss per task
    (check or immediate_check(tasks))(losses)                        # NaN or inf: no update (finite.py)
    weights = weighting(losses.detach())                            # [T]: how much each task counts
    objective = (weights * losses).sum() + weighting.regularizer()  # the weighted sum (+ learnable-weight term)
    if penalty is not None:
        objective = objective + penalty(model)                      # e.g. L2-SP: stay near the pretrained weights
    objective.backward()                                            # every parameter's d(objective)/d(parameter)
    optimizer.step()
    return losses.detach(), weights.detach()


def gradient_step(model: MultiTaskNet, tasks: Sequence[Task], batch: Mapping[str, Tensor], weighting: Weighting,
                  optimizer: torch.optim.Optimizer, level: str = "params",
                  penalty: Penalty | None = None, check: FiniteCheck | None = None,
                  batched: bool | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """One optimiser step whose shared gradient is d = weighting.combine(G, L).

    level: "params" (G over the trunk's parameters) or "features" (G over the trunk's output, the Features
    every head reads; then one backward pass carries d through the trunk).
    check: as in plain_step; here it also checks the task gradients (the Gram matrix's diagonal).
    batched: the T gradients in one batched backward call (None: on a CUDA GPU; see gradients.task_gradients).
    Returns (losses [T], weights [T], Gram matrix G G^T [T, T]), detached.
    """
    check_level(model, level)
    optimizer.zero_grad(set_to_none=True)
    with autocast(batch[model.input_key].device):
        shared = model.trunk(model_inputs(model, batch))               # the shared features
        read = shared.detached() if level == "features" else shared   # "features": the heads read a cut-off copy
        outputs = {name: head(read) for name, head in model.heads.items()}
    losses = task_losses(tasks, outputs, batch)                        # [T]
    wrt = read.tensors() if level == "features" else model.shared_parameters()
    own = model.task_parameters()
    G, used, own_grads = task_gradients(losses, wrt, own, batched)    # G [T, P]: one row per task
    gram = G @ G.T                                                     # [T, T]: every method starts here
    (check or immediate_check(tasks))(losses, gram)                    # NaN or inf: no update
    d = weighting.combine(G, losses.detach(), gram=gram)               # [P]: the one shared gradient
    add_to_grad(own, weighted_sum(own_grads, weighting.head_weights()))   # each head: its own task's gradient
    reached = [wrt[i] for i in used]
    if level == "params":
        add_to_grad(reached, split(d, reached))                        # d is the trunk's gradient
    else:
        torch.autograd.backward([shared.tensors()[i] for i in used], split(d, reached))  # d back through the trunk
    if weighting.parameters():                                         # learnable weights: their own backward
        ((weighting(losses.detach()) * losses.detach()).sum() + weighting.regularizer()).backward()
    if penalty is not None:
        penalty(model).backward()
    optimizer.step()
    return losses.detach(), weighting.last_weights.detach(), gram.detach()


def immediate_check(tasks: Sequence[Task]) -> FiniteCheck:
    """The check of a step called on its own: a FloatingPointError at once (fit passes its own, see finite.py)."""
    return FiniteCheck([t.name for t in tasks], deferred=False)


def check_level(model: MultiTaskNet, level: str) -> None:
    """A ValueError if per-task gradients cannot be taken at `level` of this model (MultiTaskNet.shared_features)."""
    if level == "features" and not model.shared_features:
        raise ValueError("grad_level='features' takes the task gradients at the features every head reads, but in "
                         f"this model ({model.config.get('sharing', type(model.trunk).__name__)}) each head reads "
                         "its own task's features, so the task gradients would never meet. Use grad_level='params' "
                         "(the trunk's parameters, which every task's loss reaches)")


def weighted_sum(own_grads: Sequence[Sequence[Tensor | None]], weights: Tensor) -> list[Tensor | None]:
    """For each task-specific parameter: sum_t weights[t] * (task t's gradient of it); None if no task reaches it."""
    totals: list[Tensor | None] = [None] * (len(own_grads[0]) if own_grads else 0)
    for weight, grads in zip(weights, own_grads):                 # weight: a 0-d tensor (no read to the host)
        for i, g in enumerate(grads):
            if g is not None:
                totals[i] = weight * g if totals[i] is None else totals[i] + weight * g
    return totals


def add_to_grad(params: Sequence[Tensor], grads: Sequence[Tensor | None]) -> None:
    """p.grad += g for each pair (a missing p.grad counts as zero; g = None adds nothing)."""
    for p, g in zip(params, grads):
        if g is not None:
            p.grad = g if p.grad is None else p.grad + g

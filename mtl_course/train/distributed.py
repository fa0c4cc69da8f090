"""Several processes, one model: PyTorch's DistributedDataParallel (DDP), started by torchrun.

    torchrun --nproc_per_node=2 -m mtl_course train configs/example.toml

torchrun starts N copies of the program and tells each its RANK (0..N-1) and the WORLD_SIZE (N). fit notices
(world() > 1) and changes four things:

    data       each process reads its own slice of every batch (batches.epoch_order): batch_size is per process,
               one optimiser step sees batch_size * N samples
    gradients  the forward pass runs through DistributedDataParallel(model); during backward it averages every
               gradient over the processes, so each copy takes the same step and the copies stay identical
    numbers    the epoch's losses are averaged and the validation statistics summed over the processes
    output     only rank 0 shows progress and writes files

What stays per process: batch normalisation's statistics (each copy normalises its own batch_size samples; rank 0's
running statistics are copied to the others at every forward pass), so N processes of B samples train like one of
N x B closely, not exactly.

Gradient-based weighting (PCGrad, MGDA, ... and track_conflict) is not supported under DDP: its step takes each
task's gradient separately, outside the DDP forward pass, so the processes would combine different G.
Learnable task weights (uncertainty) are averaged over the processes by a gradient hook.
"""

from __future__ import annotations

import os
from typing import Sequence

import torch
import torch.distributed as dist
from torch import Tensor

from mtl_course.tasks import MetricState


def world() -> tuple[int, int]:
    """(rank, number of processes): (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: torch.device) -> tuple[int, int]:
    """Join the process group torchrun describes in the environment (gloo on a CPU, nccl on CUDA GPUs: one GPU per
    process, by LOCAL_RANK). Does nothing outside torchrun. Returns (rank, world size)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda":
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            if local_rank >= torch.cuda.device_count():
                raise ValueError(f"torchrun started more processes on this machine than it has GPUs "
                                 f"({torch.cuda.device_count()}): process {local_rank} has none. Pass "
                                 f"--nproc_per_node={torch.cuda.device_count()}, or train on the CPU (device='cpu', "
                                 f"or the environment variable MTL_COURSE_DEVICE=cpu)")
            torch.cuda.set_device(local_rank)
        elif device.type != "cpu":
            raise ValueError(f"several processes train on CUDA GPUs or CPUs; got device {device}: pass device='cpu' "
                             f"(or MTL_COURSE_DEVICE=cpu)")
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return world()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun on CUDA: this process's GPU (cuda:LOCAL_RANK); else `device` unchanged."""
    if device.type == "cuda" and world()[1] > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.index is not None and device.index != local_rank:
            raise ValueError(f"under torchrun each process trains on its own GPU: pass device='cuda' (process "
                             f"{local_rank} takes cuda:{local_rank}), not {device}")
        return torch.device("cuda", local_rank)
    return device


def average(tensor: Tensor) -> Tensor:
    """The mean of `tensor` over the processes (itself with one process)."""
    if world()[1] == 1:
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return total / world()[1]


def merge_states(states: dict[str, MetricState]) -> None:
    """Combine every process's metric statistics (task.merge over the processes), in place, on every process."""
    if world()[1] == 1:
        return
    gathered: list[dict[str, Tensor | None]] = [None] * world()[1]  # type: ignore[list-item]
    dist.all_gather_object(gathered, {name: state.total for name, state in states.items()})
    for name, state in states.items():
        parts = [g[name] for g in gathered if g[name] is not None]
        state.total = None
        for part in parts:
            state.total = part if state.total is None else state.task.merge(state.total, part)


def average_gradients_of(params: Sequence[Tensor]) -> None:
    """Average the gradients of tensors outside the DDP model (learnable task weights) over the processes,
    with a hook that runs during backward."""
    if world()[1] == 1:
        return
    for p in params:
        p.register_hook(average)

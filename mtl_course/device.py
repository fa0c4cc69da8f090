"""Pick where to compute, and make runs repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV = "MTL_COURSE_DEVICE"


def reads_are_free(t: torch.Tensor) -> bool:
    """Whether reading a value of `t` back to Python costs nothing: on the CPU it does not; on a GPU it makes the CPU
    wait until every kernel queued so far has run (a host sync). The library's per-step value checks (image range,
    class ids, finite gradients) run only where reading is free; on a GPU fit checks the data once instead."""
    return t.device.type == "cpu"


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: `prefer` (a name such as "cuda:1", or a torch.device) if given, else
    $MTL_COURSE_DEVICE, else cuda > mps > cpu.

    Asking for a device that is not there is an error, never a silent fallback to the CPU.
    """
    choice = str(prefer) if isinstance(prefer, torch.device) else (prefer or os.environ.get(DEVICE_ENV) or None)
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={choice!r} is not a device name; use 'cpu', 'cuda', 'cuda:1' or 'mps'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={choice!r} was asked for but this machine has no CUDA GPU "
                         f"(torch.cuda.is_available() is False); use device='cpu' or leave it as None")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device={choice!r} was asked for but only {torch.cuda.device_count()} GPU(s) exist")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={choice!r} was asked for but Apple MPS is not available here; use 'cpu'")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that a run can be repeated exactly on the CPU."""
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

"""Pick a training run up where it stopped: fit(..., checkpoint="runs/x/last.pt").

At the end of every epoch fit writes everything the next epoch depends on (atomically, rank 0 only):

    model        the weights (and batch-norm statistics)
    optimizer    AdamW's moments and step counts; the learning-rate schedule's position
    weighting    the strategy's state: learnable task weights, DWA's loss history, RLW's random generator...
    rng          the shuffling generator and torch's global generator (dropout, random transforms)
    history      the epochs so far (and the best epoch's weights with keep_best)

When fit starts and the file exists, it loads all of it and continues with the next epoch, so a run killed
after epoch k and started again ends with the same weights as one that was never interrupted (on a CPU: to the
bit; see tests/test_resume.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mtl_course._io import load_verified, save_verified
from mtl_course.weighting import Weighting

FORMAT = "mtl_course.training/1"


def weighting_state(weighting: Weighting) -> dict[str, Any]:
    """The strategy's attributes that change during training: tensors, generators, lists of tensors, numbers."""
    state: dict[str, Any] = {}
    for name, value in vars(weighting).items():
        if isinstance(value, torch.Generator):
            state[name] = {"generator": value.get_state()}
        elif isinstance(value, torch.Tensor):
            state[name] = value.detach().cpu().clone()
        elif isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
            state[name] = [v.detach().cpu().clone() for v in value]
        elif isinstance(value, (int, float, str, bool)) or value is None:
            state[name] = value
    return state


def load_weighting_state(weighting: Weighting, state: dict[str, Any]) -> None:
    for name, value in state.items():
        current = getattr(weighting, name, None)
        if isinstance(current, torch.Generator):
            current.set_state(value["generator"])
        elif isinstance(current, torch.Tensor) and isinstance(value, torch.Tensor) and current.shape == value.shape:
            with torch.no_grad():
                current.copy_(value)                 # in place: the optimiser holds this very tensor
        elif isinstance(value, list):
            setattr(weighting, name, [v.to(current[0].device) if current else v for v in value])
        else:
            setattr(weighting, name, value)


def save_training_state(path: str | Path, state: dict[str, Any]) -> None:
    save_verified({"format": FORMAT, **state}, path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    data = load_verified(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a training checkpoint written by fit(..., checkpoint=...); delete it, or "
                         f"pass another path")
    return data

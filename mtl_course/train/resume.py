"""Pick a training run up where it stopped: fit(..., checkpoint="runs/x/last.pt").

At the end of every epoch fit writes everything the next epoch depends on (atomically, rank 0 only):

    model        the weights (and batch-norm statistics)
    optimizer    AdamW's moments and step counts; the learning-rate schedule's position
    weighting    the strategy's state: learnable task weights, DWA's loss history, RLW's random generator...
    rng          the shuffling generator and torch's global generator (dropout, random transforms)
    history      the epochs so far (and the best epoch's weights with keep_best)

When fit starts and the file exists, it loads all of it and continues with the next epoch, so a run killed
after epoch k and started again ends with the same weights as one that was never interrupted (on a CPU, to the
bit; see tests/test_resume.py). Two exceptions: random transforms drawn in DataLoader worker processes
(workers > 0) draw other values after a restart, and under torchrun every process continues from rank 0's
random generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from torch import Tensor, nn

from mtl_course._io import load_verified, save_verified
from mtl_course.train.history import History
from mtl_course.weighting import Weighting

FORMAT = "mtl_course.training/1"


SIMPLE = (int, float, str, bool, type(None))


def weighting_state(weighting: Weighting) -> dict[str, Any]:
    """Every attribute of the strategy, in a form torch.save(weights_only) accepts: tensors, generators (their
    state), optimisers (their state_dict, e.g. GradNorm's Adam), numbers, text, and lists and dicts of these.
    Anything else is an error: a strategy whose state cannot be saved cannot be resumed."""
    state: dict[str, Any] = {}
    for name, value in vars(weighting).items():
        if isinstance(value, torch.Generator):
            state[name] = {"generator": value.get_state()}
        elif isinstance(value, Tensor):
            state[name] = value.detach().cpu().clone()
        elif isinstance(value, (torch.optim.Optimizer, nn.Module)):
            state[name] = {"state_dict": value.state_dict()}
        else:
            try:
                state[name] = portable(value)
            except TypeError:
                raise TypeError(f"cannot save {type(weighting).__name__}.{name} ({type(value).__name__}) in a "
                                f"training checkpoint: fit(checkpoint=...) does not support this strategy") from None
    return state


def portable(value: Any) -> Any:
    """value as tensors (on the CPU), numbers, text, lists and dicts of them; a TypeError for anything else."""
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, SIMPLE):
        return value
    if isinstance(value, (list, tuple)):
        return [portable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: portable(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


def load_weighting_state(weighting: Weighting, state: dict[str, Any]) -> None:
    """Restore what weighting_state saved, in place where the optimiser or the strategy holds the object."""
    for name, value in state.items():
        current = getattr(weighting, name, None)
        if isinstance(current, torch.Generator):
            current.set_state(value["generator"])
        elif isinstance(current, (torch.optim.Optimizer, nn.Module)):
            current.load_state_dict(value["state_dict"])
        elif isinstance(current, Tensor) and current.numel() and isinstance(value, Tensor):
            if current.shape != value.shape:
                raise ValueError(f"the checkpoint's {type(weighting).__name__}.{name} has shape {tuple(value.shape)}, "
                                 f"this run's {tuple(current.shape)}: another set of tasks?")
            with torch.no_grad():
                current.copy_(value)                 # in place: the optimiser holds this very tensor
        elif isinstance(value, Tensor):
            setattr(weighting, name, value.to(current.device) if isinstance(current, Tensor) else value)
        elif isinstance(value, list) and isinstance(current, list) and current and isinstance(current[0], Tensor):
            setattr(weighting, name, [v.to(current[0].device) if isinstance(v, Tensor) else v for v in value])
        else:
            setattr(weighting, name, value)


def save_training_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write fit's end-of-epoch state (see the module docstring) atomically, with a checksum."""
    save_verified({"format": FORMAT, **state}, path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read what save_training_state wrote; a clear error for any other file."""
    data = load_verified(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a training checkpoint written by fit(..., checkpoint=...); delete it, or "
                         f"pass another path")
    return data


def resume(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
           weighting: Weighting, shuffle: torch.Generator, epochs: int, schedule: str | None,
           rank: int = 0) -> tuple[int, History, dict[str, Tensor] | None]:
    """Load the state fit wrote at `path` into this run's objects; returns (first epoch to run, the History so far,
    the best epoch's weights or None)."""
    state = load_training_state(path)
    if schedule is not None and state.get("epochs") != epochs:
        raise ValueError(f"the checkpoint {path} was written by a run with a {schedule} schedule over "
                         f"{state.get('epochs')} epochs; resuming it with epochs={epochs} would bend that schedule. "
                         f"Pass epochs={state.get('epochs')}, or start a new run (another checkpoint path)")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ValueError(f"the checkpoint {path} holds another model (other tasks or architecture) than the one "
                         f"passed to fit: delete it or pass another checkpoint path ({str(err)[:200]})") from None
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    load_weighting_state(weighting, state["weighting"])
    shuffle.set_state(state["shuffle"])
    torch.set_rng_state(state["torch_rng"])
    if rank == 0:
        print(f"resuming from {path}: epoch {state['epoch']} done")
    return state["epoch"] + 1, History(**state["history"]), state["best_state"]

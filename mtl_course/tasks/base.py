"""What every task knows: its output channels, loss, metrics and which direction is better.

A task turns the network's raw output for one image batch into a loss (for training) and into
statistics that add up over batches (for evaluation):

    loss   = task.loss(output, target)          # scalar tensor
    stats  = task.stats(output, target)         # a tensor; task.merge(a, b) joins two batches' (a sum, mostly)
    scores = task.scores(stats)                 # {"miou": 0.71, ...}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class Task:
    """Base class. Subclasses set the class attributes and implement the four methods below."""

    name: str = ""               # also the key of the model's output
    target: str = ""             # key of the target in a dataset sample
    higher_is_better: bool = True
    primary_metric: str = ""
    dense: bool = True           # per-pixel output [B, C, H, W]; False: per-image output [B, C]
    initial_bias: float | None = None   # where the head's output starts (None: the usual init)
    own_output: bool = True      # False: a loss on other tasks' outputs (consistency), no head of its own

    def __init__(self, out_channels: int) -> None:
        self.out_channels = out_channels

    # --- to implement ----------------------------------------------------------------------
    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def predict(self, output: Tensor) -> Tensor:
        """Raw network output -> a prediction in the target's form (class ids, probabilities...)."""
        raise NotImplementedError

    def stats(self, output: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def scores(self, stats: Tensor) -> dict[str, float]:
        raise NotImplementedError

    def per_class(self, stats: Tensor) -> dict[str, list[float]]:
        """Scores per class, {metric: [value per class]} (evaluate(..., per_class=True)); none by default."""
        return {}

    def merge(self, total: Tensor, stats: Tensor) -> Tensor:
        """Join the statistics of two sets of batches: they add up (Normals overrides it: it keeps every error)."""
        return total + stats

    # --- shared ----------------------------------------------------------------------------
    @property
    def reads(self) -> list[str]:
        """The model outputs this task's loss reads: its own (a consistency task reads two others')."""
        return [self.name]

    def inputs(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(output, target) for loss() and stats(), from the model's outputs and a batch (what fit and evaluate
        call; a consistency task returns two tasks' outputs)."""
        return outputs[self.name], batch[self.target]

    def rename(self, key: str) -> "Task":
        """Use `key` as this task's output name and target key (e.g. a second semseg task on other labels)."""
        self.name = self.target = key
        return self

    def spec(self) -> dict[str, Any]:
        """The arguments that rebuild this task with get_task(**spec) (stored in checkpoints)."""
        return {"name": self.kind, **self.arguments(), **({"key": self.name} if self.name != self.kind else {})}

    def arguments(self) -> dict[str, Any]:
        """The constructor arguments of this task (subclasses with arguments override it)."""
        return {}

    @property
    def kind(self) -> str:
        return type(self).name

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        """Scores of one batch. To evaluate many batches, use metric_state()."""
        return self.scores(self.stats(output, target))

    def metric_state(self) -> "MetricState":
        return MetricState(self)

    def expected_target_shape(self, output: Tensor) -> tuple[int, ...]:
        """The target shape that goes with an output of this shape."""
        return tuple(output.shape)

    def check_shapes(self, output: Tensor, target: Tensor) -> None:
        """Raise a ValueError naming the task when output and target do not fit together."""
        want_dims = 4 if self.dense else 2
        if output.dim() != want_dims or output.shape[1] != self.out_channels:
            layout = "[B, C, H, W]" if self.dense else "[B, C]"
            raise ValueError(f"{self.name} output has shape {tuple(output.shape)} but the task expects "
                             f"{layout} with C={self.out_channels} channels")
        expected = self.expected_target_shape(output)
        if tuple(target.shape) != expected:
            raise ValueError(f"{self.name} target has shape {tuple(target.shape)} but the output "
                             f"{tuple(output.shape)} needs a target of shape {expected}")

    def prepare_target(self, target: Tensor) -> Tensor:
        """The target as the loss and the metrics read it. Default: float; bool and integer maps are converted
        (an edge map stored as bool, a depth map as integers)."""
        if not isinstance(target, Tensor):
            raise TypeError(f"the {self.name} target must be a torch.Tensor, got {type(target).__name__}")
        return target if target.is_floating_point() else target.float()

    def check_target(self, target: Tensor) -> None:
        """Check a whole target tensor once before training (values, not shapes). Default: finite."""
        target = self.prepare_target(target)
        if not torch.isfinite(target).all():
            raise ValueError(f"{self.name} targets contain NaN or inf values; clean the dataset first")


class MetricState:
    """Accumulates a task's statistics over batches: update(output, target) ..., then compute()."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.total: Tensor | None = None

    def update(self, output: Tensor, target: Tensor) -> None:
        stats = self.task.stats(output.detach(), target).cpu()
        self.total = stats if self.total is None else self.task.merge(self.total, stats)

    def compute(self) -> dict[str, float]:
        if self.total is None:
            raise ValueError(f"no batches were added to the {self.task.name} metric state")
        return self.task.scores(self.total)

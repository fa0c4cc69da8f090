"""History: what happened during fit, epoch by epoch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import matplotlib.pyplot as plt


@dataclass
class History:
    """Per-epoch records of a training run.

    epochs:        [1, 2, ...]
    train_loss:    {task: [mean training loss per epoch]}
    val_metrics:   {task: {metric: [value per epoch]}}   (empty without validation data)
    weights:       {task: [mean task weight applied per epoch]}
    grad_cosine:   {"a/b": [mean cosine between tasks a and b's shared gradients per epoch]} (when taken)
    epoch_seconds: [wall-clock seconds per epoch, training and validation]
    train_seconds: [wall-clock seconds per epoch, training steps only]
    steps_per_epoch: optimiser steps per epoch
    peak_memory_mb: peak GPU memory allocated during fit (None on a CPU)
    primary:       {task: its primary metric name}
    """

    epochs: list[int] = field(default_factory=list)
    train_loss: dict[str, list[float]] = field(default_factory=dict)
    val_metrics: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    weights: dict[str, list[float]] = field(default_factory=dict)
    grad_cosine: dict[str, list[float]] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    peak_memory_mb: float | None = None
    primary: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Total wall-clock training time."""
        return sum(self.epoch_seconds)

    @property
    def seconds_per_step(self) -> float:
        """Mean wall-clock seconds of one training step (validation excluded)."""
        return sum(self.train_seconds) / max(1, self.steps_per_epoch * len(self.train_seconds))

    def final(self) -> dict[str, dict[str, float]]:
        """The last epoch's validation scores {task: {metric: value}}."""
        return {task: {m: values[-1] for m, values in metrics.items()} for task, metrics in self.val_metrics.items()}

    def plot(self) -> plt.Figure:
        """Loss and primary-metric curves per task."""
        from mtl_course.viz import plot_history
        return plot_history(self)

    def then(self, later: History) -> History:
        """This run followed by `later` (a second fit of the same model) as one History, epochs renumbered."""
        joined = History(primary={**self.primary, **later.primary}, steps_per_epoch=later.steps_per_epoch,
                         peak_memory_mb=max((m for m in (self.peak_memory_mb, later.peak_memory_mb) if m is not None),
                                            default=None))
        joined.epochs = [*self.epochs, *(len(self.epochs) + e for e in later.epochs)]
        for name in ("train_loss", "weights", "grad_cosine"):
            mine, theirs = getattr(self, name), getattr(later, name)
            setattr(joined, name, {k: [*mine.get(k, []), *theirs.get(k, [])] for k in {**mine, **theirs}})
        joined.val_metrics = {task: {m: [*self.val_metrics.get(task, {}).get(m, []), *values]
                                     for m, values in metrics.items()} for task, metrics in later.val_metrics.items()}
        joined.epoch_seconds = [*self.epoch_seconds, *later.epoch_seconds]
        joined.train_seconds = [*self.train_seconds, *later.train_seconds]
        return joined

    def to_dict(self) -> dict:
        return asdict(self)

"""History: what happened during fit, epoch by epoch; it plots itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from torch import Tensor


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
    best_epoch:    with fit(..., keep_best=task): the epoch whose weights the model kept
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
    best_epoch: int | None = None

    def record_epoch(self, names: Sequence[str], losses: Tensor, weights: Tensor, cosines: Tensor | None,
                     scores: Mapping[str, Mapping[str, float]], train_seconds: float, epoch_seconds: float) -> None:
        """Append one epoch: mean losses [T], mean weights [T], mean cosines [T, T] (or None), val scores."""
        self.epochs.append(len(self.epochs) + 1)
        self.train_seconds.append(train_seconds)
        for name, loss, weight in zip(names, losses.tolist(), weights.tolist()):
            self.train_loss.setdefault(name, []).append(loss)
            self.weights.setdefault(name, []).append(weight)
        if cosines is not None:
            values = cosines.tolist()
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    self.grad_cosine.setdefault(f"{names[i]}/{names[j]}", []).append(values[i][j])
        for name, metrics in scores.items():
            for metric, value in metrics.items():
                self.val_metrics.setdefault(name, {}).setdefault(metric, []).append(value)
        self.epoch_seconds.append(epoch_seconds)

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
        """Training loss (left column) and the primary validation metric (right) of every task."""
        tasks = list(self.train_loss)
        fig, axes = plt.subplots(len(tasks), 2, figsize=(8, 2.2 * len(tasks)), squeeze=False)
        for row, name in enumerate(tasks):
            axes[row, 0].plot(self.epochs, self.train_loss[name], marker="o")
            axes[row, 0].set_ylabel(name)
            axes[row, 0].set_title("train loss" if row == 0 else "")
            metric = self.primary.get(name)
            values = self.val_metrics.get(name, {}).get(metric)
            if values:
                axes[row, 1].plot(self.epochs[:len(values)], values, marker="o", label=metric)
                axes[row, 1].legend(fontsize=8)
            axes[row, 1].set_title("validation" if row == 0 else "")
        for ax in axes[-1]:
            ax.set_xlabel("epoch")
        fig.tight_layout()
        return fig

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

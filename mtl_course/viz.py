"""Pictures: a sample's label maps, predictions next to targets, training curves.

Every function returns the matplotlib Figure, so a notebook shows it and a script can save it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from mtl_course.tasks import Task
    from mtl_course.train import History

# background dark grey, then one clear colour per object class
PALETTE = np.array([[0.15, 0.15, 0.15], [0.90, 0.30, 0.25], [0.25, 0.55, 0.90], [0.95, 0.75, 0.20],
                    [0.40, 0.80, 0.40], [0.75, 0.40, 0.85], [0.95, 0.55, 0.75], [0.45, 0.85, 0.85],
                    [0.60, 0.45, 0.30], [0.85, 0.85, 0.85]])
IGNORE_COLOUR = np.array([1.0, 1.0, 1.0])


def colorize(key: str, value: Tensor) -> tuple[np.ndarray, dict[str, Any]]:
    """Turn one label map (no batch dimension) into something imshow can draw.

    Inputs:
        key:   "image" [3,H,W], "semseg" [H,W], "instance" [H,W], "depth" [1,H,W],
               "edges" [1,H,W], "normals" [3,H,W]
    Returns:
        (array for imshow, imshow keyword arguments)
    """
    value = value.detach().float().cpu()
    if key in ("image", "normals"):
        rgb = value if key == "image" else (value + 1) / 2      # normals: x->red, y->green, z->blue
        return rgb.clamp(0, 1).permute(1, 2, 0).numpy(), {}
    if key in ("semseg", "instance"):
        ids = value.long().numpy()
        colours = np.vstack([PALETTE, IGNORE_COLOUR])
        ids = np.where(ids == 255, len(PALETTE), ids % len(PALETTE))
        return colours[ids], {}
    if key == "depth":
        return value[0].numpy(), {"cmap": "magma_r"}                 # near = bright
    if key == "edges":
        return value[0].numpy(), {"cmap": "gray", "vmin": 0, "vmax": 1}
    raise ValueError(f"don't know how to draw {key!r}; expected one of image, semseg, instance, "
                     f"depth, edges, normals")


DENSE_KEYS = ("image", "semseg", "instance", "depth", "edges", "normals")


def show_sample(sample: dict[str, Tensor], classes: Sequence[str] | None = None,
                keys: Sequence[str] | None = None) -> plt.Figure:
    """One scene: the image and each of its label maps side by side, titled by what they show."""
    keys = [k for k in (keys or DENSE_KEYS) if k in sample]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.2 * len(keys), 2.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        array, kwargs = colorize(key, sample[key])
        ax.imshow(array, interpolation="nearest", **kwargs)
        ax.set_title(key)
        ax.axis("off")
    if "labels" in sample and classes is not None:
        present = [classes[i + 1] for i, on in enumerate(sample["labels"].tolist()) if on > 0.5]
        fig.suptitle("labels: " + (", ".join(present) or "none"), y=0.01, va="bottom", fontsize=10)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    else:
        fig.tight_layout()
    return fig


def show_samples(batch: dict[str, Tensor], n: int = 4, keys: Sequence[str] | None = None) -> plt.Figure:
    """A grid: one row per scene (first n of a stacked batch), one column per label map."""
    keys = [k for k in (keys or DENSE_KEYS) if k in batch]
    fig, axes = plt.subplots(n, len(keys), figsize=(2.0 * len(keys), 2.0 * n), squeeze=False)
    for row in range(n):
        for col, key in enumerate(keys):
            array, kwargs = colorize(key, batch[key][row])
            axes[row, col].imshow(array, interpolation="nearest", **kwargs)
            axes[row, col].axis("off")
            if row == 0:
                axes[row, col].set_title(key)
    fig.tight_layout()
    return fig


@torch.no_grad()
def show_predictions(model: torch.nn.Module, tasks: Sequence["Task"], data: Any, n: int = 3,
                     device: torch.device | str | None = None) -> plt.Figure:
    """For the first n scenes of `data`: the image, then target | prediction for each dense task."""
    from mtl_course.device import get_device

    device = get_device(str(device) if device is not None else None)
    batch = data.tensors() if hasattr(data, "tensors") else data
    images = batch["image"][:n]
    model.eval()
    outputs = model(images.to(device))
    dense = [t for t in tasks if t.dense]
    cols = 1 + 2 * len(dense)
    fig, axes = plt.subplots(n, cols, figsize=(1.9 * cols, 1.9 * n), squeeze=False)
    for row in range(n):
        panels = [("image", "image", images[row])]
        for task in dense:
            prediction = task.predict(outputs[task.name][row:row + 1].float().cpu())[0]
            panels += [(task.target, f"{task.name}\ntarget", batch[task.target][row]),
                       (task.target, f"{task.name}\nprediction", prediction)]
        for col, (key, title, value) in enumerate(panels):
            array, kwargs = colorize(key, value)
            axes[row, col].imshow(array, interpolation="nearest", **kwargs)
            axes[row, col].axis("off")
            if row == 0:
                axes[row, col].set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_history(history: "History") -> plt.Figure:
    """Training loss (left column) and the primary validation metric (right) of every task."""
    tasks = list(history.train_loss)
    fig, axes = plt.subplots(len(tasks), 2, figsize=(8, 2.2 * len(tasks)), squeeze=False)
    for row, name in enumerate(tasks):
        axes[row, 0].plot(history.epochs, history.train_loss[name], marker="o")
        axes[row, 0].set_ylabel(name)
        axes[row, 0].set_title("train loss" if row == 0 else "")
        for metric, values in history.val_metrics.get(name, {}).items():
            if metric == history.primary.get(name):
                axes[row, 1].plot(history.epochs[:len(values)], values, marker="o", label=metric)
                axes[row, 1].legend(fontsize=8)
        axes[row, 1].set_title("validation" if row == 0 else "")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    fig.tight_layout()
    return fig

"""Pictures: a sample's label maps, predictions next to targets, training curves.

Every function returns the matplotlib Figure, so a notebook shows it and a script can save it.
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import hsv_to_rgb
from matplotlib.patches import Patch
import torch
from torch import Tensor

from mtl_course.device import get_device
from mtl_course.tasks import Task

# background dark grey, then one clear colour per object class
PALETTE = np.array([[0.15, 0.15, 0.15], [0.90, 0.30, 0.25], [0.25, 0.55, 0.90], [0.95, 0.75, 0.20],
                    [0.40, 0.80, 0.40], [0.75, 0.40, 0.85], [0.95, 0.55, 0.75], [0.45, 0.85, 0.85],
                    [0.60, 0.45, 0.30], [0.85, 0.85, 0.85]])
IGNORE_COLOUR = np.array([1.0, 1.0, 1.0])
GOLDEN = 0.6180339887498949          # hue steps of the golden ratio never repeat and stay far apart


def class_colours(n: int) -> np.ndarray:
    """n distinct RGB colours [n, 3]: the course's 10 (PALETTE), then, for more classes or instance ids, hues a
    golden-ratio turn apart (never a repeat, so class 10 is not drawn like class 0)."""
    if n <= len(PALETTE):
        return PALETTE[:n]
    k = np.arange(n - len(PALETTE))
    hsv = np.stack([(0.05 + k * GOLDEN) % 1.0, np.where(k % 2, 0.55, 0.85), np.where(k % 3 == 0, 0.7, 0.92)], axis=1)
    return np.vstack([PALETTE, hsv_to_rgb(hsv)])
DEPTH_CMAP = "magma_r"


def class_legend(fig: plt.Figure, classes: Sequence[str]) -> None:
    """A row of coloured patches under the figure: which colour is which semseg class."""
    colours = class_colours(len(classes))
    handles = [Patch(color=colours[i], label=name) for i, name in enumerate(classes)]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False,
               handlelength=1.2, columnspacing=1.0)


def depth_colorbar(fig: plt.Figure, image: Any, axes: Any) -> None:
    """One colour bar in metres beside the depth panels `axes` (near = bright)."""
    fig.colorbar(image, ax=axes, fraction=0.05, pad=0.02, aspect=25).set_label("depth (m)", fontsize=8)


def colorize(key: str, value: Tensor) -> tuple[np.ndarray, dict[str, Any]]:
    """Turn one label map (no batch dimension) into something imshow can draw.

    Inputs:
        key:   "image" [3,H,W], "semseg" [H,W], "instance" [H,W], "depth" [1,H,W],
               "edges" [1,H,W], "normals" [3,H,W], "centers" [1,H,W], "offsets" [2,H,W]
               (offsets as optical flow is drawn: the hue is the direction, the brightness the length
               relative to the longest; NaN pixels, without an object, in the background's grey)
    Returns:
        (array for imshow, imshow keyword arguments)
    """
    value = value.detach().float().cpu()
    if key in ("image", "normals"):
        rgb = value if key == "image" else (value + 1) / 2      # normals: x->red, y->green, z->blue
        return rgb.clamp(0, 1).permute(1, 2, 0).numpy(), {}
    if key in ("semseg", "instance"):
        ids = value.long().numpy()
        labelled = ids[ids != 255]
        n = max(len(PALETTE), int(labelled.max()) + 1 if labelled.size else 0)
        if labelled.size and labelled.min() < 0:
            raise ValueError(f"{key} ids must be >= 0 (255 = void), got {int(labelled.min())}")
        colours = np.vstack([class_colours(n), IGNORE_COLOUR])
        return colours[np.where(ids == 255, n, ids)], {}
    if key == "depth":
        return value[0].numpy(), {"cmap": DEPTH_CMAP}                # near = bright, far = dark, in every lesson
    if key == "edges":
        return value[0].numpy(), {"cmap": "gray", "vmin": 0, "vmax": 1}
    if key == "centers":
        return value[0].numpy(), {"cmap": "magma", "vmin": 0, "vmax": 1}
    if key == "offsets":
        dy, dx = value[0].numpy(), value[1].numpy()
        valid = np.isfinite(dy) & np.isfinite(dx)
        length = np.where(valid, np.hypot(dy, dx), 0.0)
        hue = (np.arctan2(np.where(valid, -dy, 0), np.where(valid, dx, 0)) / (2 * np.pi)) % 1.0   # up = 0.25
        hsv = np.stack([hue, np.ones_like(hue), length / max(length.max(), 1e-6)], axis=-1)
        return np.where(valid[..., None], hsv_to_rgb(hsv), PALETTE[0]), {}
    raise ValueError(f"don't know how to draw {key!r}; expected one of image, semseg, instance, "
                     f"depth, edges, normals, centers, offsets")


DENSE_KEYS = ("image", "semseg", "instance", "depth", "edges", "normals")


def show_sample(sample: dict[str, Tensor], classes: Sequence[str] | None = None,
                keys: Sequence[str] | None = None) -> plt.Figure:
    """One scene: the image and each of its label maps side by side, titled by what they show.
    With `classes`, a legend of the semseg colours and the scene's image-level labels are added."""
    keys = [k for k in (keys or DENSE_KEYS) if k in sample]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.3 * len(keys), 2.9 if classes is not None else 2.6),
                             squeeze=False, layout="constrained")
    for ax, key in zip(axes[0], keys):
        array, kwargs = colorize(key, sample[key])
        drawn = ax.imshow(array, interpolation="nearest", **kwargs)
        if key == "depth":
            depth_colorbar(fig, drawn, ax)
        ax.set_title(key)
        ax.axis("off")
    if classes is not None:
        if "labels" in sample:
            present = [classes[i + 1] for i, on in enumerate(sample["labels"].tolist()) if on > 0.5]
            fig.suptitle("labels: " + (", ".join(present) or "none"), fontsize=10)
        class_legend(fig, classes)
    return fig


def show_samples(batch: dict[str, Tensor], n: int = 4, keys: Sequence[str] | None = None,
                 classes: Sequence[str] | None = None) -> plt.Figure:
    """A grid: one row per scene (first n of a stacked batch), one column per label map. Depth uses one
    colour scale for the whole column; `classes` adds a legend of the semseg colours."""
    keys = [k for k in (keys or DENSE_KEYS) if k in batch]
    fig, axes = plt.subplots(n, len(keys), figsize=(2.0 * len(keys), 2.0 * n + (0.4 if classes else 0)),
                             squeeze=False, layout="constrained")
    scale = {"vmin": float(batch["depth"][:n].min()), "vmax": float(batch["depth"][:n].max())} if "depth" in batch else {}
    for row in range(n):
        for col, key in enumerate(keys):
            array, kwargs = colorize(key, batch[key][row])
            drawn = axes[row, col].imshow(array, interpolation="nearest", **kwargs, **(scale if key == "depth" else {}))
            axes[row, col].axis("off")
            if row == 0:
                axes[row, col].set_title(key)
            if key == "depth" and row == n - 1:
                depth_colorbar(fig, drawn, axes[:, col])
    if classes is not None:
        class_legend(fig, classes)
    return fig


@torch.no_grad()
def show_predictions(model: torch.nn.Module, tasks: Sequence[Task], data: Any, n: int = 3,
                     device: torch.device | str | None = None, classes: Sequence[str] | None = None,
                     indices: Sequence[int] | None = None) -> plt.Figure:
    """For the first n scenes of `data` (or the scenes at `indices`, e.g. frames far apart in a video): the image,
    then target | prediction for each dense task.

    Depth targets and predictions share one colour scale (a colour bar in metres, near = bright). The model
    is put in eval mode for the pictures and left in the mode it was in. `classes` adds a legend of the
    semseg colours.
    """
    device = get_device(device)
    batch = data.tensors() if callable(getattr(data, "tensors", None)) else data
    total = len(batch["image"]) if isinstance(batch, dict) else len(data)
    rows = list(range(min(n, total))) if indices is None else [int(i) for i in indices]
    if not rows or any(not -total <= i < total for i in rows):
        raise ValueError(f"indices must pick at least one of the {total} scenes (0 to {total - 1}), got {indices}")
    if not isinstance(batch, dict):                      # a dataset of dict samples: read just the rows shown
        samples = [data[i] for i in rows]
        batch = {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
        rows = list(range(len(rows)))
    n = len(rows)
    images = batch["image"][rows]
    was_training = model.training
    try:
        outputs = model.eval()(images.to(device))
    finally:
        model.train(was_training)
    dense = [t for t in tasks if t.dense]
    cols = 1 + 2 * len(dense)
    fig, axes = plt.subplots(n, cols, figsize=(1.9 * cols + 0.5, 1.9 * n + (0.4 if classes else 0)), squeeze=False,
                             layout="constrained")
    for col, task in enumerate(dense, start=1):
        target = batch[task.target][rows]
        scale = {"vmin": float(target.min()), "vmax": float(target.max())} if task.target == "depth" else {}
        predictions = task.predict(outputs[task.name].float().cpu())
        for row in range(n):
            for offset, (title, value) in enumerate([("target", target[row]), ("prediction", predictions[row])]):
                ax = axes[row, 2 * col - 1 + offset]
                array, kwargs = colorize(task.target, value)
                drawn = ax.imshow(array, interpolation="nearest", **kwargs, **scale)
                ax.axis("off")
                if row == 0:
                    ax.set_title(f"{task.name}\n{title}", fontsize=9)
        if task.target == "depth":
            depth_colorbar(fig, drawn, axes[:, 2 * col - 1:2 * col + 1].ravel().tolist())
    for row in range(n):
        axes[row, 0].imshow(*colorize("image", images[row])[:1], interpolation="nearest")
        axes[row, 0].axis("off")
    axes[0, 0].set_title("image", fontsize=9)
    if classes is not None:
        class_legend(fig, classes)
    return fig


def plot_history(history: Any) -> plt.Figure:
    """Training loss and the primary validation metric of every task: the same as history.plot()."""
    return history.plot()

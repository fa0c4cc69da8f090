"""Lesson 07's harness: instances from three dense heads (semseg, centres, offsets), scored by panoptic quality.

    model, _ = train_model([lesson_task("semseg"), get_task("centers"), get_task("offsets")], INSTANCE_SETUP)
    semseg, instance = predict_panoptic(model, images)          # class ids and instance ids, [B, H, W] each
    evaluate_panoptic(model, val)                                # {"pq", "sq", "rq", "per_class"}

Single-task networks work too: pass several models, e.g. predict_panoptic([semseg_net, centre_net, offset_net], x).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from mtl_course.data import CLASSES
from mtl_course.lessons.setup import LessonSetup, lesson_task, train_model
from mtl_course.metrics import group_instances, panoptic_scores, panoptic_stats
from mtl_course.models import MultiTaskNet
from mtl_course.train import History
from mtl_course.train.batches import iterate, to_tensors

# 32x32 scenes and batches of 8, as lesson 06; 8 epochs (at 5 the segmentation had not left the background floor
# on some seeds).
INSTANCE_SETUP = LessonSetup(size=32, n_train=256, n_val=128, epochs=8, batch_size=8)
INSTANCE_TASKS = ("semseg", "centers", "offsets")

# Lesson 07's models: (tasks of each network, loss weights). "separate": a semseg network and an instance network
# (centres + offsets, which only work together); "hard": one network for all three, equal weights; "hard, weighted":
# the same with the instance losses scaled down so semseg's leads (each starts near 2: cross-entropy, focal, pixels).
INSTANCE_WEIGHTS = {"semseg": 1.0, "centers": 0.2, "offsets": 0.05}
INSTANCE_VARIANTS: dict[str, list[tuple[tuple[str, ...], dict[str, float] | str]]] = {
    "separate": [(("semseg",), "equal"), (("centers", "offsets"), "equal")],
    "hard": [(INSTANCE_TASKS, "equal")],
    "hard, weighted": [(INSTANCE_TASKS, INSTANCE_WEIGHTS)],
}
THRESHOLD, KERNEL = 0.1, 5          # centre peaks: score above 0.1, the largest in their 5x5 window


def panoptic_outputs(models: MultiTaskNet | Sequence[MultiTaskNet], images: Tensor) -> dict[str, Tensor]:
    """The semseg, centres and offsets outputs for a batch of images [B, 3, H, W], from one model or several."""
    models = [models] if isinstance(models, MultiTaskNet) else list(models)
    outputs: dict[str, Tensor] = {}
    with torch.no_grad():
        for model in models:
            model.eval()
            outputs.update(model(images.to(next(model.parameters()).device)))
    missing = [name for name in INSTANCE_TASKS if name not in outputs]
    if missing:
        raise ValueError(f"grouping needs the outputs {list(INSTANCE_TASKS)}, but the models give no {missing}; "
                         f"train a model with get_task('centers') and get_task('offsets') next to semseg")
    return outputs


def predict_panoptic(models: MultiTaskNet | Sequence[MultiTaskNet], images: Tensor, threshold: float = THRESHOLD,
                     kernel: int = KERNEL, semseg: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(class ids, instance ids), int64 [B, H, W] each, for images [B, 3, H, W].

    semseg: class ids [B, H, W] to group instead of the predicted ones (e.g. the true ones: what would the
    centres and offsets give with a perfect segmentation?)
    """
    outputs = panoptic_outputs(models, images)
    semseg = outputs["semseg"].argmax(1) if semseg is None else semseg.to(outputs["semseg"].device)
    instance = group_instances(semseg, torch.sigmoid(outputs["centers"]), outputs["offsets"], threshold=threshold,
                               kernel=kernel)
    return semseg.cpu(), instance.cpu()


def evaluate_panoptic(models: MultiTaskNet | Sequence[MultiTaskNet], data: Any, batch_size: int = 64,
                      threshold: float = THRESHOLD, kernel: int = KERNEL, true_semseg: bool = False) -> dict[str, Any]:
    """Panoptic quality over a dataset with "image", "semseg" and "instance" (e.g. SyntheticScenes), grouping the
    predicted segmentation (or, with true_semseg=True, the true one):
    {"pq", "sq", "rq", "per_class": {class id: {"pq", "sq", "rq"}}} (class 0, the background, is stuff)."""
    keys = ["image", "semseg", "instance"]
    stats = torch.zeros(len(CLASSES), 4, dtype=torch.float64)
    for batch in iterate(data, to_tensors(data, keys), keys, batch_size, torch.device("cpu")):
        semseg, instance = predict_panoptic(models, batch["image"], threshold, kernel,
                                            batch["semseg"] if true_semseg else None)
        stats += panoptic_stats(semseg, instance, batch["semseg"], batch["instance"], len(CLASSES))
    return panoptic_scores(stats)


def train_variant(name: str, setup: LessonSetup = INSTANCE_SETUP, data: tuple[Any, Any] | None = None,
                  progress: bool | None = None) -> tuple[list[MultiTaskNet], list[History]]:
    """Train the networks of INSTANCE_VARIANTS[name] with `setup`: (models, their histories)."""
    if name not in INSTANCE_VARIANTS:
        raise ValueError(f"unknown variant {name!r}; valid variants are {list(INSTANCE_VARIANTS)}")
    models, histories = [], []
    for names, weighting in INSTANCE_VARIANTS[name]:
        model, history = train_model([lesson_task(n) for n in names], setup, progress=progress, data=data,
                                     weighting=weighting)
        models.append(model)
        histories.append(history)
    return models, histories

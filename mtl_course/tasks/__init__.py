"""Tasks: what to predict, how to score it. Build one with get_task(name, ...).

    semseg  = get_task("semseg", num_classes=6)
    rare_up = get_task("semseg", num_classes=6, class_weights=balanced_class_weights(train_masks, 6))
    depth   = get_task("depth")
    edges   = get_task("edges")
    normals = get_task("normals")
    labels  = get_task("labels", num_classes=6)   # image-level: which classes are present
    centers = get_task("centers")                 # a heatmap with one peak per object
    offsets = get_task("offsets")                 # each object pixel's vector to its centre
    consistency = get_task("consistency", between=("edges", "semseg"))   # a loss on two tasks' predictions
"""

from __future__ import annotations

from typing import Any

from mtl_course.tasks.base import MetricState, Task
from mtl_course.tasks.centers import Centers, focal_loss
from mtl_course.tasks.consistency import Consistency, edge_disagreement, soft_boundaries
from mtl_course.tasks.depth import Depth
from mtl_course.tasks.edges import Edges
from mtl_course.tasks.labels import Labels
from mtl_course.tasks.normals import Normals
from mtl_course.tasks.offsets import Offsets
from mtl_course.tasks.semseg import SemSeg, balanced_class_weights

TASKS: dict[str, type[Task]] = {"semseg": SemSeg, "depth": Depth, "edges": Edges, "normals": Normals,
                                "labels": Labels, "centers": Centers, "offsets": Offsets, "consistency": Consistency}


def get_task(name: str, key: str | None = None, **kwargs: Any) -> Task:
    """Build a task by name; semseg and labels need num_classes=C (C counts the background).

    key: the name of the task's output and of its target in the data, when it is not `name`
         (e.g. get_task("semseg", num_classes=6, key="other_semseg") for a second segmentation task).
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks are {sorted(TASKS)}")
    try:
        task = TASKS[name](**kwargs)
        return task.rename(key) if key is not None else task
    except TypeError as err:
        raise TypeError(f"get_task({name!r}, ...): {err}. "
                        + ("Pass num_classes=C, e.g. num_classes=len(ds.classes)." if name in ("semseg", "labels")
                           else "It takes between=(edge task, segmentation task) and weight=." if name == "consistency"
                           else "This task takes no required arguments.")) from err


__all__ = ["Centers", "Consistency", "Depth", "Edges", "Labels", "MetricState", "Normals", "Offsets", "SemSeg",
           "TASKS", "Task", "balanced_class_weights", "edge_disagreement", "focal_loss", "get_task",
           "soft_boundaries"]

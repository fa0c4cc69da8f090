"""Knowledge distillation (Hinton, Vinyals & Dean 2015), task by task: a small student learns from a trained
teacher's outputs as well as from the labels.

For each task, the student's loss is the task's own loss on the labels plus `weight` times a distillation loss
that compares the student's output with the teacher's output for the same image:

    classes per pixel (semseg):                T^2 * KL(softmax(teacher / T) || softmax(student / T)), per pixel
    yes/no per pixel or image (edges, labels,  binary cross-entropy of the student's logits against the teacher's
    centers):                                  probabilities sigmoid(teacher)
    regressions (depth, normals, offsets):     L1 between the two outputs

The temperature T > 1 softens the teacher's class distribution, so the student also learns which wrong classes the
teacher finds plausible; the T^2 keeps the gradient's size independent of T. The teacher runs once over the data
before training (its outputs are stored next to the labels, under "teacher/<task>"), so a training step costs only
the student's forward and backward pass.

    history = distill(teacher, student, tasks, train, val, weight=1.0, temperature=2.0, epochs=5, lr=3e-3)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_course.models import MultiTaskNet
from mtl_course.tasks import Task
from mtl_course.train import History, fit
from mtl_course.train.batches import iterate, to_tensors

FORMS = {"semseg": "softmax", "edges": "sigmoid", "labels": "sigmoid", "centers": "sigmoid",
         "depth": "l1", "normals": "l1", "offsets": "l1"}


def distillation_loss(student: Tensor, teacher: Tensor, form: str, temperature: float = 2.0) -> Tensor:
    """The per-element distillation loss, averaged: student and teacher are raw outputs of the same shape
    ([B, C, H, W] or [B, C]); form is "softmax" (classes along dim 1), "sigmoid" or "l1"."""
    if student.shape != teacher.shape:
        raise ValueError(f"student output {tuple(student.shape)} and teacher output {tuple(teacher.shape)} differ; "
                         f"the two networks must predict the same tasks with the same channels")
    student, teacher = student.float(), teacher.float().detach()
    if form == "softmax":
        t = temperature
        kl = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1), log_target=True,
                      reduction="none").sum(dim=1)                      # KL(teacher || student) per pixel
        return t * t * kl.mean()
    if form == "sigmoid":
        return F.binary_cross_entropy_with_logits(student, torch.sigmoid(teacher))
    if form == "l1":
        return (student - teacher).abs().mean()
    raise ValueError(f"unknown distillation form {form!r}; valid forms are 'softmax', 'sigmoid', 'l1'")


class Distill(Task):
    """A pseudo-task: weight * distillation_loss(student's output for `task`, the teacher's, stored in the data
    under "teacher/<task>"). Its metric, "gap", is the unweighted loss (lower: the student is closer)."""

    higher_is_better = False
    primary_metric = "gap"
    own_output = False

    def __init__(self, task: Task, weight: float = 1.0, temperature: float = 2.0) -> None:
        if task.kind not in FORMS:
            raise ValueError(f"no distillation loss for the task {task.kind!r}; distillable tasks are {sorted(FORMS)}")
        for name, value in (("weight", weight), ("temperature", temperature)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"the distillation {name} must be a number >= 0, got {value!r}")
        if temperature == 0:
            raise ValueError("the temperature must be > 0 (1 = the teacher's own probabilities)")
        super().__init__(out_channels=0)
        self.task, self.weight, self.temperature = task, float(weight), float(temperature)
        self.form = FORMS[task.kind]
        self.name = f"distill/{task.name}"
        self.target = f"teacher/{task.name}"

    def arguments(self) -> dict:
        return {"task": self.task.name, "weight": self.weight, "temperature": self.temperature}

    @property
    def reads(self) -> list[str]:
        return [self.task.name]

    def inputs(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        return outputs[self.task.name], batch[self.target]

    def loss(self, student: Tensor, teacher: Tensor) -> Tensor:
        return self.weight * distillation_loss(student, teacher, self.form, self.temperature)

    def stats(self, student: Tensor, teacher: Tensor) -> Tensor:
        """float64 [2]: (the loss times the batch size, the batch size); they add up over batches."""
        gap = distillation_loss(student, teacher, self.form, self.temperature).double()
        return torch.stack([gap * len(student), gap.new_tensor(float(len(student)))]).cpu()

    def scores(self, stats: Tensor) -> dict[str, float]:
        return {"gap": float(stats[0] / stats[1])}


def teacher_outputs(teacher: MultiTaskNet, data: Any, tasks: Sequence[Task], batch_size: int = 64) -> dict[str, Tensor]:
    """{"teacher/<task>": the teacher's raw outputs on every sample of data, stacked [N, ...] on the CPU}."""
    missing = [t.name for t in tasks if t.name not in teacher.task_names]
    if missing:
        raise ValueError(f"the teacher has no output for {missing} (it predicts {teacher.task_names}); distil only "
                         f"tasks the teacher was trained on")
    device = next(teacher.parameters()).device
    was_training = teacher.training
    teacher.eval()
    outputs: dict[str, list[Tensor]] = {t.name: [] for t in tasks}
    with torch.no_grad():
        for batch in iterate(data, to_tensors(data, ["image"]), ["image"], batch_size, device):
            predicted = teacher(batch["image"].to(device))
            for t in tasks:
                outputs[t.name].append(predicted[t.name].float().cpu())
    teacher.train(was_training)
    return {f"teacher/{name}": torch.cat(values) for name, values in outputs.items()}


def with_teacher(data: Any, teacher: MultiTaskNet, tasks: Sequence[Task], batch_size: int = 64) -> dict[str, Tensor]:
    """The data's images and targets, stacked, with the teacher's outputs added."""
    stacked = to_tensors(data, ["image", *dict.fromkeys(t.target for t in tasks)])
    if stacked is None:
        raise ValueError("distill keeps the data and the teacher's outputs in memory; this dataset is too large")
    return {**stacked, **teacher_outputs(teacher, stacked, tasks, batch_size)}


def distill(teacher: MultiTaskNet, student: MultiTaskNet, tasks: Sequence[Task], train: Any, val: Any = None,
            weight: float = 1.0, temperature: float = 2.0, **fit_options: Any) -> History:
    """Train `student` on `tasks` with their labels and, for each task, a Distill pseudo-task towards `teacher`'s
    outputs (see the module's docstring); fit_options go to fit (epochs, lr, batch_size, seed, ...). The history
    has each task's metrics and each distill/<task>'s "gap" to the teacher."""
    tasks = list(tasks)
    missing = [t.name for t in tasks if t.name not in student.task_names]
    if missing:
        raise ValueError(f"the student has no head for {missing}; build it for the same tasks as the teacher")
    train_data = with_teacher(train, teacher, tasks)
    val_data = with_teacher(val, teacher, tasks) if val is not None else None
    distilled = [Distill(t, weight, temperature) for t in tasks]
    return fit(student, [*tasks, *distilled], train_data, val_data, **fit_options)

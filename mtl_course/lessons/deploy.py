"""Lesson 09's harness: a teacher, its half-width students (trained on the labels alone, or distilled), and how
long a model takes to answer.

    teacher, _ = train_teacher()                          # the lesson's multi-task network, full width
    student, _ = train_student(teacher=teacher)           # half width, distilled; teacher=None: the labels alone
    latency_ms([model], batch=16)                         # ms per image: median of repeated runs after a warm-up
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Any, Callable, Sequence

import torch
from torch import nn

from mtl_course.compress import distill
from mtl_course.device import seed_everything
from mtl_course.lessons.setup import LessonSetup, lesson_task, train_model
from mtl_course.models import MultiTaskNet, build_model
from mtl_course.tasks import Task
from mtl_course.train import History

# 32x32 scenes in batches of 8, as lessons 06-07, for 12 epochs (384 steps, ~25 s for the teacher). At lessons
# 01-04's 48x48 and 168 steps the teacher's mIoU was 0.21-0.33 over five seeds (0.135: all background): a weak teacher.
DEPLOY_SETUP = LessonSetup(size=32, n_train=256, n_val=128, epochs=12, batch_size=8)
DEPLOY_TASKS = ("semseg", "depth", "edges")
STUDENT_WIDTH = 0.5                          # half the channels: about a quarter of the weights and the work
# The distillation loss's weight next to each task's own loss, and its temperature: weight 0.5 at T = 1 did no worse
# than weight 1 at T = 2 (and weight 2 at T = 4) on the seeds tried; neither beat the labels alone on every seed.
DISTILL_WEIGHT, TEMPERATURE = 0.5, 1.0


def deploy_tasks() -> list[Task]:
    """semseg, depth and edges, configured for SyntheticScenes."""
    return [lesson_task(name) for name in DEPLOY_TASKS]


def train_teacher(setup: LessonSetup = DEPLOY_SETUP, progress: bool | None = None,
                  data: tuple[Any, Any] | None = None) -> tuple[MultiTaskNet, History]:
    """The lesson's full-width multi-task network (hard sharing), trained on the labels."""
    return train_model(deploy_tasks(), setup, progress=progress, data=data)


def train_student(setup: LessonSetup = DEPLOY_SETUP, teacher: MultiTaskNet | None = None,
                  width: float = STUDENT_WIDTH, weight: float = DISTILL_WEIGHT, temperature: float = TEMPERATURE,
                  progress: bool | None = None, data: tuple[Any, Any] | None = None) -> tuple[MultiTaskNet, History]:
    """A network `width` times as wide as the teacher, trained as the teacher was on the labels, plus (when a
    teacher is given) the distillation loss towards the teacher's outputs. Both students start from the same
    weights for a given setup.seed, so the distillation loss is the only difference."""
    tasks = deploy_tasks()
    if teacher is None:
        return train_model(tasks, setup, progress=progress, data=data, width=width)
    train, val = data or setup.data()
    seed_everything(setup.seed)                 # what train_model does before building the model
    student = build_model(tasks, encoder=setup.encoder, width=width)
    history = distill(teacher, student, tasks, train, val, weight=weight, temperature=temperature,
                      epochs=setup.epochs, lr=setup.lr, batch_size=setup.batch_size, seed=setup.seed,
                      progress=progress)
    return student, history


def median_ms(run: Callable[[], object], repeats: int = 20, warmup: int = 3) -> float:
    """The median wall time of run(), in milliseconds, after `warmup` untimed calls (the first calls allocate
    memory and pick kernels; the median ignores the runs the operating system interrupted)."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def latency_ms(models: Sequence[nn.Module], batch: int = 1, size: int = DEPLOY_SETUP.size,
               repeats: int = 20) -> float:
    """Milliseconds per image to run every model of `models` (e.g. one network per task) on a batch of random
    images, in eval mode without gradients, on the CPU (the lesson's deployment target; a model that fit left on
    a GPU is timed as a copy on the CPU)."""
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    models = [model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).cpu()
              for model in models]
    for model in models:
        model.eval()

    def run() -> None:
        with torch.no_grad():
            for model in models:
                model(images)
    return median_ms(run, repeats) / batch

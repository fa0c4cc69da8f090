"""Lesson settings: one frozen dataclass per lesson family, all on one small base, and the helper that
builds and trains a model with them.

    setup = LessonSetup()                 # the settings lessons 01-04 share (printable); SHARING_SETUP: lesson 06
    train, val = setup.data()
    model, history = train_model([lesson_task("semseg"), lesson_task("depth")], setup)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence, TypeVar

from mtl_course.data import CLASSES, SyntheticScenes
from mtl_course.device import seed_everything
from mtl_course.models import MultiTaskNet, build_model
from mtl_course.tasks import Task, get_task
from mtl_course.train import History, fit

S = TypeVar("S", bound="Setup")


@dataclass(frozen=True)
class Setup:
    """The base of every lesson's settings: frozen (a lesson cannot change them by accident), printable,
    with a cache key and a `replace` for variations (e.g. setup.replace(seed=3))."""

    def key(self) -> str:
        """A file-name-safe string of every setting (the baseline cache is keyed by it)."""
        return "-".join(f"{k}{v}" for k, v in asdict(self).items())

    def replace(self: S, **changes: Any) -> S:
        return replace(self, **changes)


@dataclass(frozen=True)
class LessonSetup(Setup):
    """Data and training settings shared by lessons 01-04 (sized for ~30 s per model on a laptop CPU).

    48x48 images: on a 2-core CPU, 6 epochs at 48x48 beat 4 epochs at 64x64 on every task in less time.
    """

    size: int = 48
    n_train: int = 384
    n_val: int = 128
    epochs: int = 7
    batch_size: int = 16
    lr: float = 3e-3
    encoder: str = "unet"
    seed: int = 0

    def data(self) -> tuple[SyntheticScenes, SyntheticScenes]:
        """The (train, val) splits of SyntheticScenes for this setup (target domain)."""
        return (SyntheticScenes(n=self.n_train, size=self.size, seed=self.seed, split="train"),
                SyntheticScenes(n=self.n_val, size=self.size, seed=self.seed, split="val"))


LESSON_SETUP = LessonSetup()

# Lesson 06 trains five sharing schemes and one more model in two minutes: 32x32 scenes, and batches of 8 (twice
# the optimiser steps of batches of 16 for the same compute: at 80 steps single-task semseg had not left the
# all-background floor).
SHARING_SETUP = LessonSetup(size=32, n_train=256, n_val=128, epochs=5, batch_size=8)

# Lesson 06's five ways to share, as build_model options (train_model(tasks, setup, **SHARING_VARIANTS[name])).
SHARING_VARIANTS: dict[str, dict[str, str]] = {
    "single-task": {"sharing": "none"},                          # a whole network per task
    "hard": {"sharing": "hard"},                                 # one encoder and decoder, a head per task
    "hard, own decoders": {"sharing": "hard", "branch": "decoder"},   # one encoder, a decoder per task
    "attention": {"sharing": "attention"},                       # one encoder, per-task masks and decoders
    "cross-stitch": {"sharing": "cross_stitch"},                 # a network per task, mixed after each stage
}


def lesson_task(name: str) -> Task:
    """A task configured for SyntheticScenes (semseg and labels get its class count)."""
    return get_task(name, num_classes=len(CLASSES)) if name in ("semseg", "labels") else get_task(name)


def train_model(tasks: Sequence[Task], setup: LessonSetup = LESSON_SETUP, progress: bool | None = None,
                data: tuple[Any, Any] | None = None, weighting: Any = "equal",
                fit_options: Mapping[str, Any] | None = None, **build_options: Any) -> tuple[MultiTaskNet, History]:
    """Build (build_model(tasks, encoder=setup.encoder, **build_options)) and train a model with `setup`.

    tasks: what fit trains; the model predicts those with an output of their own (a consistency pseudo-task
    only adds a loss on the others' outputs).

    data: (train, val) to use instead of setup.data(), e.g. with an extra task's targets added.
    weighting, fit_options: passed to fit (e.g. fit_options={"grad_level": "features"}).
    """
    train, val = data or setup.data()
    seed_everything(setup.seed)
    model = build_model([t for t in tasks if t.own_output], encoder=setup.encoder, **build_options)
    history = fit(model, list(tasks), train, val, epochs=setup.epochs, lr=setup.lr, batch_size=setup.batch_size,
                  seed=setup.seed, progress=progress, weighting=weighting, **(fit_options or {}))
    return model, history


def train_single_task(name: str, setup: LessonSetup = LESSON_SETUP, progress: bool | None = None,
                      data: tuple[Any, Any] | None = None) -> tuple[MultiTaskNet, History]:
    """Train one single-task network for task `name` with `setup`; returns (model, history)."""
    return train_model([lesson_task(name)], setup, progress, data)

"""Single-task baselines: the reference every multi-task model in the course is compared against.

Lesson 01 trains one network per task with `LESSON_SETUP` and saves their scores with
`save_stl_scores`; later lessons call `stl_scores(...)`, which reads that file, or retrains the
missing baselines (same setup, same seed) when it is absent or was made with other settings.

    setup = LessonSetup()                 # the settings every lesson shares (printable)
    train, val = setup.data()
    scores = stl_scores(["semseg", "depth"], setup)   # {"semseg": {"miou": ...}, "depth": {...}}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn

from mtl_course.data import CLASSES, SyntheticScenes
from mtl_course.data.synthetic import cache_dir
from mtl_course.device import seed_everything
from mtl_course.models import build_model
from mtl_course.tasks import Task, get_task
from mtl_course.train import History, evaluate, fit


@dataclass(frozen=True)
class LessonSetup:
    """Data and training settings shared by the lessons (sized for ~25 s per model on a laptop CPU).

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

    def key(self) -> str:
        return "-".join(f"{k}{v}" for k, v in asdict(self).items())


LESSON_SETUP = LessonSetup()


def lesson_task(name: str) -> Task:
    """A task configured for SyntheticScenes (semseg and labels get its class count)."""
    return get_task(name, num_classes=len(CLASSES)) if name in ("semseg", "labels") else get_task(name)


def train_model(tasks: Sequence[Task], setup: LessonSetup = LESSON_SETUP, progress: bool | None = None,
                data: tuple[Any, Any] | None = None, weighting: Any = "equal",
                fit_options: Mapping[str, Any] | None = None, **build_options: Any) -> tuple[nn.Module, History]:
    """Build (build_model(tasks, encoder=setup.encoder, **build_options)) and train a model with `setup`.

    data: (train, val) to use instead of setup.data(), e.g. with an extra task's targets added.
    weighting, fit_options: passed to fit (e.g. fit_options={"grad_level": "features"}).
    """
    train, val = data or setup.data()
    seed_everything(setup.seed)
    model = build_model(list(tasks), encoder=setup.encoder, **build_options)
    history = fit(model, list(tasks), train, val, epochs=setup.epochs, lr=setup.lr, batch_size=setup.batch_size,
                  seed=setup.seed, progress=progress, weighting=weighting, **(fit_options or {}))
    return model, history


def train_single_task(name: str, setup: LessonSetup = LESSON_SETUP, progress: bool | None = None,
                      data: tuple[Any, Any] | None = None) -> tuple[nn.Module, History]:
    """Train one single-task network for task `name` with `setup`; returns (model, history)."""
    return train_model([lesson_task(name)], setup, progress, data)


def results_path(setup: LessonSetup = LESSON_SETUP) -> Path:
    """The JSON file holding the single-task scores for `setup` (in the data cache folder)."""
    return cache_dir() / "results" / f"stl-{setup.key()}.json"


def _stored_scores(path: Path) -> dict[str, dict[str, float]]:
    return json.loads(path.read_text())["scores"] if path.is_file() else {}


def save_stl_scores(scores: dict[str, dict[str, float]], setup: LessonSetup = LESSON_SETUP) -> Path:
    """Merge `scores` ({task: {metric: value}}) into the file for `setup`; returns its path."""
    path = results_path(setup)
    stored = _stored_scores(path)
    stored.update(scores)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"setup": asdict(setup), "scores": stored}, indent=2))
    return path


def stl_scores(names: Sequence[str], setup: LessonSetup = LESSON_SETUP, progress: bool | None = None) -> dict[str, dict[str, float]]:
    """Validation scores of the single-task baselines for `names`, training any that are missing."""
    stored = _stored_scores(results_path(setup))
    missing = [n for n in names if n not in stored]
    if missing:
        data = setup.data()
        for name in missing:
            print(f"no saved single-task score for {name}: training it now ({setup.epochs} epochs)")
            model, _ = train_single_task(name, setup, progress=progress, data=data)
            scores = evaluate(model, [lesson_task(name)], data[1])
            save_stl_scores(scores, setup)
            stored.update(scores)
    return {name: stored[name] for name in names}

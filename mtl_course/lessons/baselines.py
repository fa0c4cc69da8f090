"""Single-task baselines: the reference every multi-task model in the course is compared against.

Lesson 01 trains one network per task with `LESSON_SETUP` and saves their scores with
`save_stl_scores`; later lessons call `stl_scores(...)`, which reads that file, or retrains the
missing baselines (same setup, same seed) when it is absent or was made with other settings.

    scores = stl_scores(["semseg", "depth"], setup)   # {"semseg": {"miou": ...}, "depth": {...}}
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from mtl_course.data.synthetic import cache_dir
from mtl_course.lessons.setup import LESSON_SETUP, LessonSetup, lesson_task, train_single_task
from mtl_course.train import evaluate

SECONDS_PER_BASELINE = 30        # one single-task model with LESSON_SETUP on a 2-core laptop CPU


def results_path(setup: LessonSetup = LESSON_SETUP) -> Path:
    """The JSON file holding the single-task scores for `setup` (in the data cache folder)."""
    return cache_dir() / "results" / f"stl-{setup.key()}.json"


def _stored_scores(path: Path) -> dict[str, dict[str, float]]:
    """The saved scores that today's tasks would compute: a score saved under another task definition (e.g. an
    edge F-score by an earlier protocol, or a file without task specs) counts as missing."""
    if not path.is_file():
        return {}
    saved = json.loads(path.read_text())
    specs = saved.get("specs", {})
    return {name: scores for name, scores in saved["scores"].items() if specs.get(name) == lesson_task(name).spec()}


def save_stl_scores(scores: dict[str, dict[str, float]], setup: LessonSetup = LESSON_SETUP) -> Path:
    """Merge `scores` ({task: {metric: value}}) into the file for `setup`, with each task's spec (how its
    metrics were computed); returns its path."""
    path = results_path(setup)
    stored = _stored_scores(path)
    stored.update(scores)
    specs = {name: lesson_task(name).spec() for name in stored}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"setup": asdict(setup), "specs": specs, "scores": stored}, indent=2))
    return path


def stl_scores(names: Sequence[str], setup: LessonSetup = LESSON_SETUP,
               progress: bool | None = None) -> dict[str, dict[str, float]]:
    """Validation scores of the single-task baselines for `names`, training any that are missing (it says
    so first, and about how long it will take)."""
    stored = _stored_scores(results_path(setup))
    missing = [n for n in names if n not in stored]
    if missing:
        scale = setup.n_train * setup.epochs / (LESSON_SETUP.n_train * LESSON_SETUP.epochs)
        print(f"No saved single-task scores for {missing} with these settings (lesson 01 saves them). Training "
              f"them now: {len(missing)} model(s), about {SECONDS_PER_BASELINE * scale * len(missing):.0f} s on a "
              f"laptop CPU. They are saved to {results_path(setup)} for the next lessons.")
        data = setup.data()
        for name in missing:
            model, _ = train_single_task(name, setup, progress=progress, data=data)
            scores = evaluate(model, [lesson_task(name)], data[1])
            save_stl_scores(scores, setup)
            stored.update(scores)
    return {name: stored[name] for name in names}

"""The refactored trainer reproduces, exactly, the histories the trainer of lessons 00-05 recorded.

tests/data/reference_histories.json was written by the trainer as it was before the model and the step
were rewritten (trunk + heads, train/step.py): fixed-seed CPU runs of the plain step, a learnable loss
weighting, the gradient step at both levels, per-task decoders, conflict tracking, a penalty, a frozen
encoder on cached features and LP-FT. Every loss, weight, cosine and metric must come out bit for bit
the same. To record them again (only after a change that is meant to alter training):

    MTL_COURSE_RECORD=1 python -m pytest tests/test_reference_histories.py
"""

import json
import os
from pathlib import Path

import pytest

import mtl_course as mc
from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import fit
from mtl_course.transfer import L2SP, CachedFeatureModel, cache_features, encoder_stages, freeze, lp_ft

REFERENCE = Path(__file__).parent / "data" / "reference_histories.json"
TIMING = ("epoch_seconds", "train_seconds", "peak_memory_mb")
NEWER = ("best_epoch",)          # History fields added after the reference was written (None in these runs)


def tasks(with_labels: bool = True) -> list:
    edges = get_task("edges", protocol="tolerance")          # the edge metric the references were recorded with
    chosen = [get_task("semseg", num_classes=6), get_task("depth"), edges]
    return chosen + [get_task("labels", num_classes=6)] if with_labels else chosen


def run(name: str) -> dict:
    data = SyntheticScenes(n=24, size=32, seed=5, split="train", cache=False).tensors()
    val = SyntheticScenes(n=16, size=32, seed=5, split="val", cache=False).tensors()
    options = {"epochs": 2, "batch_size": 8, "lr": 2e-3, "progress": False, "device": "cpu", "seed": 1}
    chosen = tasks(with_labels=name not in ("lp-ft", "cached features"))
    mc.seed_everything(7)
    if name == "equal":
        history = fit(build_model(chosen), chosen, data, val, **options)
    elif name == "uncertainty + tracking":
        history = fit(build_model(chosen), chosen, data, val, weighting="uncertainty", track_conflict=True, **options)
    elif name == "uncertainty":
        history = fit(build_model(chosen), chosen, data, val, weighting="uncertainty", **options)
    elif name == "pcgrad params":
        history = fit(build_model(chosen), chosen, data, val, weighting="pcgrad", **options)
    elif name == "pcgrad features":
        history = fit(build_model(chosen), chosen, data, val, weighting="pcgrad", grad_level="features", **options)
    elif name == "mgda features, per-task decoders":
        history = fit(build_model(chosen, branch="decoder"), chosen, data, val, weighting="mgda",
                      grad_level="features", **options)
    elif name == "penalty":
        model = build_model(chosen, pretrained="course")
        history = fit(model, chosen, data, val, penalty=L2SP(model, alpha=0.1), **options)
    elif name == "cached features":
        model = build_model(chosen, pretrained="course")
        freeze(model, *encoder_stages(model))
        history = fit(CachedFeatureModel(model), chosen, cache_features(model, data), cache_features(model, val),
                      **options)
    elif name == "lp-ft":
        model = build_model(chosen, pretrained="course")
        history = lp_ft(model, chosen, data, val, probe_epochs=1, epochs=1, lr=1e-3, new_lr=1e-2,
                        **{k: v for k, v in options.items() if k not in ("epochs", "lr")})
    else:
        raise ValueError(name)
    assert all(history.to_dict()[k] is None for k in NEWER)
    return {k: v for k, v in history.to_dict().items() if k not in TIMING + NEWER}


RUNS = ["equal", "uncertainty", "uncertainty + tracking", "pcgrad params", "pcgrad features",
        "mgda features, per-task decoders", "penalty", "cached features", "lp-ft"]


@pytest.fixture(scope="module")
def reference() -> dict:
    if os.environ.get("MTL_COURSE_RECORD") == "1":
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_text(json.dumps({name: run(name) for name in RUNS}, indent=1))
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", RUNS)
def test_training_reproduces_the_recorded_history_exactly(reference, name):
    assert run(name) == reference[name]

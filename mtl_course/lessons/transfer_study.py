"""The experiments of lesson 05: six recipes for reusing a pretrained backbone, at several label budgets.

Each recipe is a short function: build the model, decide what trains, call fit. `run(recipe, budget, setup)`
gives every recipe the same number of optimiser steps, whatever the budget, so that runs differ only in how
many labelled images they see and in which weights move. Lesson 05 and benchmarks/verify_claims.py both call
`run`, so the lesson's numbers and the checked claims come from the same code.

    setup = TransferSetup()
    score = run(feature_extraction, budget=40, setup=setup)      # semseg mIoU on the target domain
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from mtl_course.data import SyntheticScenes
from mtl_course.device import seed_everything
from mtl_course.lessons.setup import Setup, lesson_task
from mtl_course.models import MultiTaskNet, build_model
from mtl_course.tasks import Task
from mtl_course.train import evaluate, fit
from mtl_course.transfer import L2SP, CachedFeatureModel, cache_features, encoder_stages, freeze, lp_ft, param_groups


@dataclass(frozen=True)
class TransferSetup(Setup):
    """Settings of lesson 05 (sized so that all its runs fit in about a minute and a half on a 2-core CPU)."""

    size: int = 32
    budgets: tuple[int, ...] = (16, 40, 120, 480)   # labelled target images; each divides steps * batch_size
    n_val: int = 256
    steps: int = 120               # optimiser steps per run, for every budget
    batch_size: int = 8
    lr: float = 1e-2               # for weights that start random (the new decoder and heads)
    finetune_lr: float = 1e-3      # for the pretrained encoder when it trains (new parts keep lr)
    l2sp_alpha: float = 0.1
    aux: str = "depth"             # the auxiliary task of "... + aux"
    seed: int = 0

    def data(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The largest budget's target-domain training images (smaller budgets are its first n) and the val split."""
        train = SyntheticScenes(n=max(self.budgets), size=self.size, seed=self.seed, split="train").tensors()
        val = SyntheticScenes(n=self.n_val, size=self.size, seed=self.seed, split="val").tensors()
        return train, val


def pretrained(tasks: Sequence[Task]) -> MultiTaskNet:
    """A new model whose encoder is the course backbone (the decoder and heads start random)."""
    return build_model(tasks, encoder="unet", pretrained="course")


def slow_encoder(model: MultiTaskNet, setup: TransferSetup) -> torch.optim.Optimizer:
    """AdamW with the new decoder and heads at setup.lr, the pretrained encoder at the smaller finetune_lr."""
    return torch.optim.AdamW(param_groups(model, {"decoder": setup.lr, "heads": setup.lr}, setup.finetune_lr))


def from_scratch(tasks: Sequence[Task], train: Any, setup: TransferSetup, **options: Any) -> MultiTaskNet:
    """Random weights, everything trains."""
    model = build_model(tasks, encoder="unet")
    fit(model, tasks, train, lr=setup.lr, **options)
    return model


def feature_extraction(tasks: Sequence[Task], train: Any, setup: TransferSetup, **options: Any) -> MultiTaskNet:
    """The pretrained encoder frozen (its features computed once), the new decoder and heads train."""
    model = pretrained(tasks)
    freeze(model, *encoder_stages(model))
    fit(CachedFeatureModel(model), tasks, cache_features(model, train), lr=setup.lr, **options)
    return model


def fine_tuning(tasks: Sequence[Task], train: Any, setup: TransferSetup, **options: Any) -> MultiTaskNet:
    """Everything trains: the pretrained encoder slowly, the new decoder and heads at the full rate."""
    model = pretrained(tasks)
    fit(model, tasks, train, optimizer=slow_encoder(model, setup), **options)
    return model


def partial_freezing(tasks: Sequence[Task], train: Any, setup: TransferSetup, **options: Any) -> MultiTaskNet:
    """The encoder's first three stages frozen; the rest trains as in fine-tuning."""
    model = pretrained(tasks)
    freeze(model, *encoder_stages(model)[:3])
    fit(model, tasks, train, optimizer=slow_encoder(model, setup), **options)
    return model


def probe_then_fine_tune(tasks: Sequence[Task], train: Any, setup: TransferSetup, epochs: int,
                         **options: Any) -> MultiTaskNet:
    """LP-FT: feature extraction for half the epochs, then fine-tuning."""
    model = pretrained(tasks)
    probe = max(1, epochs // 2)
    lp_ft(model, tasks, train, probe_epochs=probe, epochs=max(1, epochs - probe), lr=setup.finetune_lr,
          probe_lr=setup.lr, new_lr=setup.lr, **options)
    return model


def l2sp_fine_tuning(tasks: Sequence[Task], train: Any, setup: TransferSetup, **options: Any) -> MultiTaskNet:
    """Fine-tuning with a penalty pulling the encoder towards its pretrained weights (L2-SP)."""
    model = pretrained(tasks)
    fit(model, tasks, train, optimizer=slow_encoder(model, setup), penalty=L2SP(model, alpha=setup.l2sp_alpha),
        **options)
    return model


Recipe = Callable[..., MultiTaskNet]
RECIPES: dict[str, Recipe] = {"from scratch": from_scratch, "feature extraction": feature_extraction,
                              "fine-tuning": fine_tuning, "partial freezing": partial_freezing,
                              "LP-FT": probe_then_fine_tune, "L2-SP": l2sp_fine_tuning}


def run(recipe: Recipe, budget: int, setup: TransferSetup = TransferSetup(), data: Any = None,
        aux: bool = False) -> float:
    """Train semseg (and setup.aux if aux) with `recipe` on the first `budget` target images, for
    setup.steps optimiser steps. Returns the semseg mIoU on the target validation split."""
    if not callable(recipe):
        raise TypeError(f"recipe must be one of the recipe functions ({', '.join(r.__name__ for r in RECIPES.values())}), "
                        f"got {recipe!r}")
    train, val = data if data is not None else setup.data()
    if not 0 < budget <= len(train["image"]):
        raise ValueError(f"budget must be between 1 and the {len(train['image'])} training images, got {budget}")
    subset = {key: value[:budget] for key, value in train.items()}
    tasks = [lesson_task("semseg"), *([lesson_task(setup.aux)] if aux else [])]
    batch_size = min(setup.batch_size, budget)
    epochs = max(1, round(setup.steps / (budget // batch_size)))
    seed_everything(setup.seed)
    model = recipe(tasks, subset, setup, epochs=epochs, batch_size=batch_size, seed=setup.seed, progress=False)
    return evaluate(model, tasks[:1], val)["semseg"]["miou"]

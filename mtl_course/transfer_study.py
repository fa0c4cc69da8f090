"""The experiments of lesson 05: ways to reuse a pretrained backbone, at several label budgets.

Every run trains for the same number of optimiser steps, whatever the budget, so that runs differ
only in how many labelled images they see and in which weights move. Lesson 05 and
benchmarks/verify_claims.py both call `run`, so the lesson's numbers and the checked claims come
from the same code.

    setup = TransferSetup()
    score = run("feature extraction", budget=40, setup=setup)      # semseg mIoU on the target domain
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mtl_course.baselines import lesson_task
from mtl_course.data import SyntheticScenes
from mtl_course.device import seed_everything
from mtl_course.models import build_model
from mtl_course.train import evaluate, fit
from mtl_course.transfer import L2SP, CachedFeatureModel, cache_features, encoder_stages, freeze, lp_ft, param_groups

METHODS = {
    "from scratch": "random weights, everything trains",
    "feature extraction": "pretrained encoder frozen (features cached), decoder and head train",
    "fine-tuning": "pretrained encoder, everything trains (the encoder at a smaller learning rate)",
    "partial freezing": "pretrained encoder, its first three stages frozen, the rest trains",
    "LP-FT": "feature extraction for half the steps, then fine-tuning",
    "L2-SP": "fine-tuning with a penalty pulling the encoder towards its pretrained weights",
}


@dataclass(frozen=True)
class TransferSetup:
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


def run(method: str, budget: int, setup: TransferSetup = TransferSetup(), data: Any = None,
        aux: bool = False) -> float:
    """Train semseg (and setup.aux if aux) on the first `budget` target images with `method`.

    Returns the semseg mIoU on the target validation split.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods are {list(METHODS)}")
    train, val = data if data is not None else setup.data()
    if not 0 < budget <= len(train["image"]):
        raise ValueError(f"budget must be between 1 and the {len(train['image'])} training images, got {budget}")
    subset = {key: value[:budget] for key, value in train.items()}
    tasks = [lesson_task("semseg"), *([lesson_task(setup.aux)] if aux else [])]
    batch_size = min(setup.batch_size, budget)
    epochs = max(1, round(setup.steps / (budget // batch_size)))
    options = {"batch_size": batch_size, "seed": setup.seed, "progress": False}
    seed_everything(setup.seed)
    model = build_model(tasks, encoder="unet", pretrained=None if method == "from scratch" else "course")
    if method == "from scratch":
        fit(model, tasks, subset, epochs=epochs, lr=setup.lr, **options)
    elif method == "feature extraction":
        freeze(model, *encoder_stages(model))
        fit(CachedFeatureModel(model), tasks, cache_features(model, subset), epochs=epochs, lr=setup.lr, **options)
    elif method == "LP-FT":
        probe = max(1, epochs // 2)
        lp_ft(model, tasks, subset, probe_epochs=probe, epochs=max(1, epochs - probe), lr=setup.finetune_lr,
              probe_lr=setup.lr, new_lr=setup.lr, **options)
    else:                          # the encoder moves slowly, the new decoder and heads at the full rate
        if method == "partial freezing":
            freeze(model, *encoder_stages(model)[:3])
        optimizer = torch.optim.AdamW(param_groups(model, {"decoder": setup.lr, "heads": setup.lr}, setup.finetune_lr))
        penalty = L2SP(model, alpha=setup.l2sp_alpha) if method == "L2-SP" else None
        fit(model, tasks, subset, epochs=epochs, optimizer=optimizer, penalty=penalty, **options)
    return evaluate(model, tasks[:1], val)["semseg"]["miou"]

"""LP-FT (Kumar et al., ICLR 2022): first a linear probe (here: the new parts on frozen features), then
fine-tune everything.

Fine-tuning from random heads sends large, noisy gradients into the pretrained encoder in the first steps
and distorts its features; starting from heads that already fit them distorts them less.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from mtl_course.models import MultiTaskNet
from mtl_course.tasks import Task
from mtl_course.train import History, fit
from mtl_course.train.batches import to_tensors
from mtl_course.transfer.cache import CachedFeatureModel, cache_features
from mtl_course.transfer.freeze import encoder_stages, freeze, frozen_stages, param_groups, unfreeze


def image_size(data: Any) -> tuple[int, int]:
    """(H, W) of the data's images: a dict of stacked tensors, SyntheticScenes or a dataset of dict samples."""
    stacked = to_tensors(data, ["image"])                 # None: too big to stack, read one sample
    images = stacked["image"] if stacked is not None else data[0]["image"]
    return int(images.shape[-2]), int(images.shape[-1])


def lp_ft(model: MultiTaskNet, tasks: Sequence[Task], train: Any, val: Any = None, probe_epochs: int = 3,
          epochs: int = 3, lr: float = 1e-3, probe_lr: float | None = None, new_lr: float | None = None,
          **fit_options: Any) -> History:
    """Probe (encoder frozen, decoder and heads train on cached features), then unfreeze and fine-tune.

    lr: the fine-tuning learning rate; probe_lr: the probe's (default lr); new_lr: if given, the decoder and
    heads keep it while fine-tuning (discriminative learning rates). Returns one History over both phases
    (probe epochs first). fit_options go to both fit calls.
    """
    encoder = encoder_stages(model)
    already = [name for name in encoder if name in frozen_stages(model)]
    freeze(model, *encoder)
    device = fit_options.get("device")
    probe = fit(CachedFeatureModel(model, size=image_size(train)), tasks, cache_features(model, train, device=device),
                cache_features(model, val, device=device) if val is not None else None,
                epochs=probe_epochs, lr=probe_lr or lr, **fit_options)
    moving = [name for name in encoder if name not in already]
    if moving:
        unfreeze(model, *moving)
    if new_lr is not None:
        fit_options["optimizer"] = torch.optim.AdamW(param_groups(model, {"decoder": new_lr, "heads": new_lr}, lr))
    finetune = fit(model, tasks, train, val, epochs=epochs, lr=lr, **fit_options)
    return probe.then(finetune)

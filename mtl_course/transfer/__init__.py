"""Transfer learning, one concept per file.

    freeze.py  freeze / unfreeze stages, trainable_parameters, param_groups (per-part learning rates)
    l2sp.py    L2SP: a penalty that keeps fine-tuned weights near the pretrained ones
    cache.py   cache_features + CachedFeatureModel: run a frozen encoder once, train the rest on its output
    lp_ft.py   lp_ft: probe on frozen features, then fine-tune everything

    freeze(model, *encoder_stages(model))                # feature extraction
    fit(CachedFeatureModel(model), tasks, cache_features(model, train), cache_features(model, val))
    fit(model, tasks, train, optimizer=torch.optim.AdamW(param_groups(model, {"heads": 1e-2}, 1e-3)),
        penalty=L2SP(model, alpha=1e-2))                 # fine-tuning that stays near the start
"""

from mtl_course.transfer.cache import CachedFeatureModel, CachedTrunk, cache_features
from mtl_course.transfer.freeze import (encoder_stages, freeze, frozen_stages, param_groups, stages,
                                        trainable_parameters, unfreeze)
from mtl_course.transfer.l2sp import L2SP
from mtl_course.transfer.lp_ft import lp_ft

__all__ = ["CachedFeatureModel", "CachedTrunk", "L2SP", "cache_features", "encoder_stages", "freeze",
           "frozen_stages", "lp_ft", "param_groups", "stages", "trainable_parameters", "unfreeze"]

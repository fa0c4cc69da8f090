"""Freeze parts of a model, count what still trains, give parts their own learning rates.

Parts are named by stage: the encoder's stages (ResNet-18: stem, layer1..layer4; UNet: stage0..stage4),
"decoder" (the shared decoder, or every per-task decoder) and "heads" (the task layers after the decoder).

    freeze(model, "stem", "layer1", "layer2")            # feature extraction from the lower stages
    trainable_parameters(model)                          # how many numbers the optimiser will change
    groups = param_groups(model, {"heads": 1e-2}, lr=1e-3)   # discriminative learning rates

Freezing a part is requires_grad = False on its parameters. Its BatchNorm layers then also keep their running
statistics: MultiTaskNet.train() leaves a BatchNorm with frozen weights in eval mode (see models/multitask.py).
"""

from __future__ import annotations

from typing import Mapping

from torch import nn

from mtl_course.models import Decoder, DenseHead, ImageHead, MultiTaskNet, Trunk


def stages(model: MultiTaskNet) -> dict[str, list[nn.Module]]:
    """The named parts of a model from build_model(..., sharing="hard"): {name: [modules]}."""
    if not isinstance(model, MultiTaskNet) or not isinstance(model.trunk, Trunk):
        raise ValueError(f"{type(model).__name__} has no encoder and heads to name; transfer helpers work on "
                         f"build_model(tasks, sharing='hard') models")
    parts = {name: [stage] for name, stage in model.trunk.encoder.named_stages()}
    parts["decoder"] = [m for m in model.modules() if isinstance(m, Decoder)]
    parts["heads"] = [m for head in model.heads.values() for m in head.modules()      # inside a DecoderHead or
                      if isinstance(m, (DenseHead, ImageHead))]                        # a TaskAttention too
    return parts


def _parts(model: MultiTaskNet, names: tuple[str, ...]) -> list[nn.Module]:
    parts = stages(model)
    unknown = [n for n in names if n not in parts]
    if unknown or not names:
        raise ValueError(f"unknown stage(s) {unknown}; valid stages are {list(parts)}" if unknown else
                         f"name at least one stage; valid stages are {list(parts)}")
    return [module for name in names for module in parts[name]]


def freeze(model: MultiTaskNet, *names: str) -> MultiTaskNet:
    """Stop training the named stages (requires_grad = False); their BatchNorm layers stay in eval mode."""
    for part in _parts(model, names):
        part.requires_grad_(False)
    return model.train(model.training)       # applies the frozen-BatchNorm rule now


def unfreeze(model: MultiTaskNet, *names: str) -> MultiTaskNet:
    """Train the named stages again (their BatchNorm layers follow model.train() / model.eval() again)."""
    for part in _parts(model, names):
        part.requires_grad_(True)
    return model.train(model.training)


def encoder_stages(model: MultiTaskNet) -> list[str]:
    """The encoder's stage names, first to last (freeze(model, *encoder_stages(model)) freezes the encoder)."""
    stages(model)
    return [name for name, _ in model.trunk.encoder.named_stages()]


def frozen_stages(model: MultiTaskNet) -> list[str]:
    """The stages none of whose parameters train."""
    return [name for name, parts in stages(model).items()
            if all(not p.requires_grad for part in parts for p in part.parameters())]


def trainable_parameters(model: nn.Module) -> int:
    """How many parameters the optimiser will change (requires_grad=True)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def param_groups(model: MultiTaskNet, lrs: Mapping[str, float], lr: float) -> list[dict]:
    """Optimizer parameter groups: stages named in `lrs` get their own learning rate, the rest `lr`.

    Frozen parameters are left out. Example: param_groups(model, {"heads": 10 * lr}, lr).
    """
    parts = stages(model)
    unknown = [n for n in lrs if n not in parts]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid stages are {list(parts)}")
    assigned: dict[int, str] = {}
    for name in lrs:
        for part in parts[name]:
            for p in part.parameters():
                assigned[id(p)] = name
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in [*lrs, "rest"]}
    for p in model.parameters():
        if p.requires_grad:
            groups[assigned.get(id(p), "rest")].append(p)
    return [{"params": params, "lr": lrs.get(name, lr), "name": name} for name, params in groups.items() if params]

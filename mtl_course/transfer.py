"""Transfer learning: freeze parts of a model, count what still trains, per-part learning rates, L2-SP.

Parts are named by stage: the encoder's stages (ResNet-18: stem, layer1..layer4; UNet: stage0..stage4),
"decoder" (the shared decoder, or every per-task decoder) and "heads".

    freeze(model, "stem", "layer1", "layer2")          # feature extraction from the lower stages
    trainable_parameters(model)                          # how many numbers the optimiser will change
    groups = param_groups(model, {"heads": 1e-2}, lr=1e-3)   # discriminative learning rates
    penalty = L2SP(model, alpha=1e-2, beta=1e-4)         # stay close to the starting (pretrained) weights
    fit(model, tasks, train, epochs=3, optimizer=torch.optim.AdamW(groups), penalty=penalty)

Frozen BatchNorm layers stay in eval mode, even under model.train(): their running mean and variance would
otherwise drift towards the new data while their scale and shift stay fixed, which silently changes what the
frozen features mean.
"""

from __future__ import annotations

import types
from typing import Mapping

import torch
from torch import Tensor, nn


def stages(model: nn.Module) -> dict[str, list[nn.Module]]:
    """The named parts of a model from build_model(..., sharing="hard"): {name: [modules]}."""
    encoder = getattr(model, "encoder", None)
    if encoder is None or not hasattr(model, "heads"):
        raise ValueError(f"{type(model).__name__} has no encoder and heads to name; transfer helpers work on "
                         f"build_model(tasks, sharing='hard') models")
    parts = {name: [getattr(encoder, name) if hasattr(encoder, name) else encoder.stages[i]]
             for i, name in enumerate(encoder.stage_names)}
    decoders = [model.decoder] if getattr(model, "decoder", None) is not None else list(model.decoders.values())
    parts["decoder"] = decoders
    parts["heads"] = [model.heads]
    return parts


def _parts(model: nn.Module, names: tuple[str, ...]) -> list[nn.Module]:
    parts = stages(model)
    unknown = [n for n in names if n not in parts]
    if unknown or not names:
        raise ValueError(f"unknown stage(s) {unknown}; valid stages are {list(parts)}" if unknown else
                         f"name at least one stage; valid stages are {list(parts)}")
    return [module for name in names for module in parts[name]]


def _eval_only(module: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(module, False)


def freeze(model: nn.Module, *names: str) -> nn.Module:
    """Stop training the named stages: requires_grad = False, and their BatchNorm layers stay in eval mode."""
    for part in _parts(model, names):
        for p in part.parameters():
            p.requires_grad_(False)
        for module in part.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train = types.MethodType(_eval_only, module)      # model.train() leaves it in eval
                module.eval()
    return model


def unfreeze(model: nn.Module, *names: str) -> nn.Module:
    """Train the named stages again (BatchNorm follows model.train() / model.eval() again)."""
    for part in _parts(model, names):
        for p in part.parameters():
            p.requires_grad_(True)
        for module in part.modules():
            if "train" in vars(module):
                del module.train
                module.train(model.training)
    return model


def frozen_stages(model: nn.Module) -> list[str]:
    """The stages none of whose parameters train."""
    return [name for name, parts in stages(model).items()
            if all(not p.requires_grad for part in parts for p in part.parameters())]


def trainable_parameters(model: nn.Module) -> int:
    """How many parameters the optimiser will change (requires_grad=True)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def param_groups(model: nn.Module, lrs: Mapping[str, float], lr: float) -> list[dict]:
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


class L2SP:
    """L2-SP (Li, Grandvalet & Davoine, ICML 2018): penalise moving away from the starting point.

        penalty = alpha / 2 * ||w_enc - w_enc^0||^2  +  beta / 2 * ||w_new||^2

    w_enc^0 are the encoder's weights when the model was built with pretrained weights (build_model records
    them as model.pretrained_state); the other parameters (decoder, heads) are new and get plain weight decay.
    Use it as fit(..., penalty=L2SP(model)).
    """

    def __init__(self, model: nn.Module, alpha: float = 0.01, beta: float = 1e-4) -> None:
        reference = getattr(model, "pretrained_state", None)
        if not reference:
            raise ValueError("L2SP needs the pretrained weights to stay close to, but this model has none recorded: "
                             "build it with build_model(tasks, encoder=..., pretrained='course' or 'imagenet')")
        self.alpha, self.beta = float(alpha), float(beta)
        self.reference = {name: value.detach().clone() for name, value in reference.items()}

    def __call__(self, model: nn.Module) -> Tensor:
        close, new = 0.0, 0.0
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            key = name.removeprefix("encoder.")
            if name.startswith("encoder.") and key in self.reference:
                close = close + (p - self.reference[key].to(p.device)).square().sum()
            else:
                new = new + p.square().sum()
        return torch.as_tensor(self.alpha / 2 * close + self.beta / 2 * new)

    def __repr__(self) -> str:
        return f"L2SP(alpha={self.alpha}, beta={self.beta})"

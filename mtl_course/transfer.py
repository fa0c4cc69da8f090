"""Transfer learning: freeze parts of a model, count what still trains, per-part learning rates, L2-SP.

Parts are named by stage: the encoder's stages (ResNet-18: stem, layer1..layer4; UNet: stage0..stage4),
"decoder" (the shared decoder, or every per-task decoder) and "heads".

    freeze(model, "stem", "layer1", "layer2")          # feature extraction from the lower stages
    trainable_parameters(model)                          # how many numbers the optimiser will change
    groups = param_groups(model, {"heads": 1e-2}, lr=1e-3)   # discriminative learning rates
    penalty = L2SP(model, alpha=1e-2, beta=1e-4)         # stay close to the starting (pretrained) weights
    fit(model, tasks, train, epochs=3, optimizer=torch.optim.AdamW(groups), penalty=penalty)

    freeze(model, *encoder_stages(model))                # feature extraction, fast: run the encoder once
    fit(CachedFeatureModel(model), tasks, cache_features(model, train), cache_features(model, val))
    history = lp_ft(model, tasks, train, val, probe_epochs=3, epochs=3, lr=1e-3)   # probe, then fine-tune

Frozen BatchNorm layers stay in eval mode, even under model.train(): their running mean and variance would
otherwise drift towards the new data while their scale and shift stay fixed, which silently changes what the
frozen features mean.
"""

from __future__ import annotations

import math
import types
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from mtl_course.device import get_device
from mtl_course.models.heads import ImageHead
from mtl_course.tasks import Task
from mtl_course.train import History, fit
from mtl_course.train.batches import to_tensors


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


def encoder_stages(model: nn.Module) -> list[str]:
    """The encoder's stage names, first to last (freeze(model, *encoder_stages(model)) freezes the encoder)."""
    stages(model)
    return list(model.encoder.stage_names)


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

        penalty = alpha / 2 * ||w_pre - w_pre^0||^2  +  beta / 2 * ||w_new||^2

    w_pre^0 are the pretrained weights the model was built with (build_model records them as
    model.pretrained_state: the encoder, and the decoder when the backbone has one); every other
    trainable parameter (the new heads) is new and gets plain weight decay. Use fit(..., penalty=L2SP(model)).
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
            if name in self.reference:
                if self.reference[name].device != p.device:           # once, on the first call
                    self.reference[name] = self.reference[name].to(p.device)
                close = close + (p - self.reference[name]).square().sum()
            else:
                new = new + p.square().sum()
        return torch.as_tensor(self.alpha / 2 * close + self.beta / 2 * new)

    def __repr__(self) -> str:
        return f"L2SP(alpha={self.alpha}, beta={self.beta})"


def _cached_level(model: nn.Module) -> str:
    """What cache_features stores: "decoder" (its output) when encoder and shared decoder are frozen,
    else "encoder" (its feature maps) when the encoder is frozen; otherwise nothing can be cached."""
    frozen = set(frozen_stages(model))
    moving = [name for name in encoder_stages(model) if name not in frozen]
    if moving:
        raise ValueError(f"cache_features needs the whole encoder frozen, but {moving} still train (their features "
                         f"would change every step); freeze(model, *encoder_stages(model)) first")
    return "decoder" if "decoder" in frozen and getattr(model, "decoder", None) is not None else "encoder"


def _layout(model: nn.Module, level: str) -> list[tuple[int, int]]:
    """(channels, stride) of each cached map, in the order they are flattened."""
    encoder = model.encoder
    if level == "encoder":
        return list(zip(encoder.channels, encoder.strides))
    image_heads = any(isinstance(h, ImageHead) for h in model.heads.values())
    return [(model.decoder.out_channels, 1)] + ([(encoder.channels[-1], encoder.strides[-1])] if image_heads else [])


@torch.no_grad()
def cache_features(model: nn.Module, data: Any, batch_size: int = 128,
                   device: str | torch.device | None = None) -> dict[str, Tensor]:
    """Run the frozen part of `model` over `data` once; the result trains and evaluates a CachedFeatureModel.

    When the encoder is frozen, every epoch would compute the same features again: compute them once
    here instead. With the decoder frozen too, its output is stored, and only the heads are left to train.
    Returns every entry of `data` but the image, plus
        "features": float32 [N, D], each image's feature maps flattened and concatenated (on the CPU)
    """
    level = _cached_level(model)
    tensors = to_tensors(data, list(data) if isinstance(data, dict) else
                         list(data.tensors()) if hasattr(data, "tensors") else list(data[0]))
    if tensors is None:
        raise ValueError("cache_features needs data that fits in memory (a dict of tensors or SyntheticScenes)")
    if "image" not in tensors:
        raise KeyError(f"cache_features needs images under data['image']; the data holds {sorted(tensors)}")
    device = get_device(str(device) if device is not None else None)
    was_training = model.training
    model.to(device, memory_format=torch.channels_last).eval()
    images = tensors["image"]
    chunks = []
    try:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device).contiguous(memory_format=torch.channels_last)
            maps = model.encoder(x) if level == "encoder" else model.shared_representation(x)
            chunks.append(torch.cat([m.float().flatten(1) for m in maps], dim=1).cpu())
    finally:
        model.train(was_training)
    return {"features": torch.cat(chunks), **{k: v for k, v in tensors.items() if k != "image"}}


class CachedFeatureModel(nn.Module):
    """The trainable part of `model`, fed with the features cache_features computed once.

    Encoder frozen: the decoder and heads train. Encoder and decoder frozen: only the heads train.
    fit / evaluate read its inputs from data["features"] (its `input_key`) instead of data["image"].
    It shares its modules with `model`: training it trains model. Images are assumed square unless
    `size` (height, width) is given.

    Inputs: features float [B, D] -> {task: output}, as model(images) would give.
    """

    input_key = "features"

    def __init__(self, model: nn.Module, size: tuple[int, int] | None = None) -> None:
        super().__init__()
        if not hasattr(model, "represent"):
            raise ValueError("CachedFeatureModel needs a model from build_model(tasks, sharing='hard')")
        self.model, self.size = model, size
        self.level = _cached_level(model)

    @property
    def task_names(self) -> list[str]:
        return self.model.task_names

    def unflatten(self, flat: Tensor) -> tuple[list[Tensor], tuple[int, int]]:
        """[B, D] -> the cached maps [B, C_i, H / s_i, W / s_i] and the image size (H, W)."""
        layout = _layout(self.model, self.level)
        per_pixel = sum(c / s ** 2 for c, s in layout)          # numbers per image pixel
        size = self.size or (round(math.sqrt(flat.shape[-1] / per_pixel)),) * 2
        shapes = [(c, size[0] // s, size[1] // s) for c, s in layout]
        if flat.dim() != 2 or flat.shape[1] != sum(c * h * w for c, h, w in shapes):
            raise ValueError(f"features of shape {tuple(flat.shape)} do not come from this model at "
                             f"{size[0]}x{size[1]}; make them with cache_features(model, data) after freezing "
                             f"(and pass size= for non-square images)")
        maps = torch.split(flat, [c * h * w for c, h, w in shapes], dim=1)
        return [m.reshape(len(flat), c, h, w) for m, (c, h, w) in zip(maps, shapes)], size

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.model.shared_parameters()

    def shared_representation(self, flat: Tensor) -> list[Tensor]:
        maps, self._size = self.unflatten(flat)
        return self.model.represent(maps, self._size) if self.level == "encoder" else maps

    def task_outputs(self, representation: Sequence[Tensor], size: Any = None) -> dict[str, Tensor]:
        return self.model.task_outputs(representation, self._size)

    def forward(self, flat: Tensor) -> dict[str, Tensor]:
        return self.task_outputs(self.shared_representation(flat))


def lp_ft(model: nn.Module, tasks: Sequence[Task], train: Any, val: Any = None, probe_epochs: int = 3,
          epochs: int = 3, lr: float = 1e-3, probe_lr: float | None = None, new_lr: float | None = None,
          **fit_options: Any) -> History:
    """LP-FT (Kumar et al., ICLR 2022): first train only the new parts on frozen pretrained features (the
    "probe", here decoder and heads, on cached features), then unfreeze everything and fine-tune.

    Fine-tuning from random heads sends large, noisy gradients into the pretrained encoder in the first
    steps and distorts its features; starting from heads that already fit them distorts them less.
    lr: the fine-tuning learning rate; probe_lr: the probe's (default lr); new_lr: if given, the decoder and
    heads keep it while fine-tuning (discriminative learning rates). Returns one History over both phases
    (probe epochs first). fit_options go to both fit calls.
    """
    encoder = encoder_stages(model)
    already = [name for name in encoder if name in frozen_stages(model)]
    freeze(model, *encoder)
    probe = fit(CachedFeatureModel(model), tasks, cache_features(model, train, device=fit_options.get("device")),
                cache_features(model, val, device=fit_options.get("device")) if val is not None else None,
                epochs=probe_epochs, lr=probe_lr or lr, **fit_options)
    moving = [name for name in encoder if name not in already]
    if moving:
        unfreeze(model, *moving)
    if new_lr is not None:
        fit_options["optimizer"] = torch.optim.AdamW(param_groups(model, {"decoder": new_lr, "heads": new_lr}, lr))
    finetune = fit(model, tasks, train, val, epochs=epochs, lr=lr, **fit_options)
    return probe.then(finetune)

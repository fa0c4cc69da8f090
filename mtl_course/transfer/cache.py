"""Feature extraction, fast: run the frozen part of a model once, then train the rest on what it computed.

    freeze(model, *encoder_stages(model))
    fit(CachedFeatureModel(model), tasks, cache_features(model, train), cache_features(model, val))

With the encoder frozen, every epoch would compute the same encoder features again: compute them once
instead. With the shared decoder frozen too, its output is stored and only the heads are left to train.
A CachedFeatureModel is a MultiTaskNet whose trunk reads those stored features instead of images.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from mtl_course.device import get_device
from mtl_course.models import Features, ImageHead, MultiTaskNet, Trunk
from mtl_course.train.batches import to_tensors
from mtl_course.transfer.freeze import encoder_stages, frozen_stages


def cached_level(model: MultiTaskNet) -> str:
    """What cache_features stores: "decoder" (its output) when encoder and shared decoder are frozen,
    else "encoder" (its feature maps) when the encoder is frozen; otherwise nothing can be cached."""
    frozen = set(frozen_stages(model))
    moving = [name for name in encoder_stages(model) if name not in frozen]
    if moving:
        raise ValueError(f"cache_features needs the whole encoder frozen, but {moving} still train (their features "
                         f"would change every step); freeze(model, *encoder_stages(model)) first")
    return "decoder" if "decoder" in frozen and model.trunk.decoder is not None else "encoder"


def _reads_coarse(model: MultiTaskNet) -> bool:
    return any(isinstance(head, ImageHead) for head in model.heads.values())


def _layout(model: MultiTaskNet, level: str) -> list[tuple[int, int]]:
    """(channels, stride) of each cached map, in the order they are flattened."""
    encoder = model.trunk.encoder
    if level == "encoder":
        return list(zip(encoder.channels, encoder.strides))
    coarse = [(encoder.channels[-1], encoder.strides[-1])] if _reads_coarse(model) else []
    return [(model.trunk.decoder.out_channels, 1), *coarse]


@torch.no_grad()
def cache_features(model: MultiTaskNet, data: Any, batch_size: int = 128,
                   device: str | torch.device | None = None) -> dict[str, Tensor]:
    """Run the frozen part of `model` over `data` once; the result trains and evaluates a CachedFeatureModel.

    Returns every entry of `data` but the image, plus
        "features": float32 [N, D], each image's feature maps flattened and concatenated (on the CPU)
    """
    level = cached_level(model)
    tensors = to_tensors(data, list(data) if isinstance(data, dict) else
                         list(data.tensors()) if hasattr(data, "tensors") else list(data[0]))
    if tensors is None:
        raise ValueError("cache_features needs data it can stack in memory once (a dict of tensors, SyntheticScenes, "
                         "or a dataset under 4 GiB without random transforms)")
    if "image" not in tensors:
        raise KeyError(f"cache_features needs images under data['image']; the data holds {sorted(tensors)}")
    device = get_device(device)
    was_training = model.training
    model.to(device, memory_format=torch.channels_last).eval()
    images = tensors["image"]
    chunks = []
    try:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device).contiguous(memory_format=torch.channels_last)
            if level == "encoder":
                maps = model.trunk.encoder(x)
            else:
                shared = model.trunk(x)
                maps = [shared.dense, *([shared.coarse] if _reads_coarse(model) else [])]
            chunks.append(torch.cat([m.float().flatten(1) for m in maps], dim=1).cpu())
    finally:
        model.train(was_training)
    return {"features": torch.cat(chunks), **{k: v for k, v in tensors.items() if k != "image"}}


class CachedTrunk(nn.Module):
    """Stands in for a trunk whose frozen part already ran: features float [B, D] -> Features.

    Encoder cached: the maps are unflattened and the shared decoder (which still trains) runs on them.
    Decoder cached too: its stored output is the dense map. Images are assumed square unless `size` is given.
    """

    def __init__(self, model: MultiTaskNet, size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.level = cached_level(model)
        self.layout = _layout(model, self.level)
        self.decoder = model.trunk.decoder if self.level == "encoder" else None
        self.size = size

    def unflatten(self, flat: Tensor) -> tuple[list[Tensor], tuple[int, int]]:
        """[B, D] -> the cached maps [B, C_i, H / s_i, W / s_i] and the image size (H, W)."""
        per_pixel = sum(c / s ** 2 for c, s in self.layout)          # numbers per image pixel
        size = self.size or (round(math.sqrt(flat.shape[-1] / per_pixel)),) * 2
        shapes = [(c, size[0] // s, size[1] // s) for c, s in self.layout]
        if flat.dim() != 2 or flat.shape[1] != sum(c * h * w for c, h, w in shapes):
            raise ValueError(f"features of shape {tuple(flat.shape)} do not come from this model at "
                             f"{size[0]}x{size[1]}; make them with cache_features(model, data) after freezing "
                             f"(and pass size= for non-square images)")
        maps = torch.split(flat, [c * h * w for c, h, w in shapes], dim=1)
        return [m.reshape(len(flat), c, h, w) for m, (c, h, w) in zip(maps, shapes)], size

    def forward(self, flat: Tensor) -> Features:
        maps, size = self.unflatten(flat)
        if self.level == "decoder":
            return Features(size, maps[1:], dense=maps[0])           # the decoder's stored output (+ coarse map)
        return Features(size, maps, self.decoder(maps, size) if self.decoder is not None else None)


class CachedFeatureModel(MultiTaskNet):
    """The trainable part of `model`, fed with the features cache_features computed once.

    A MultiTaskNet whose trunk is a CachedTrunk and whose heads are model's own heads (training it trains
    model); fit / evaluate read its inputs from data["features"] (its input_key) instead of data["image"].
    Inputs: features float [B, D] -> {task: output}, as model(images) would give.
    """

    def __init__(self, model: MultiTaskNet, size: tuple[int, int] | None = None) -> None:
        if not isinstance(model, MultiTaskNet) or not isinstance(model.trunk, Trunk):
            raise ValueError("CachedFeatureModel needs a model from build_model(tasks, sharing='hard')")
        super().__init__(CachedTrunk(model, size), model.heads, input_key="features")

"""build_model: put encoder, decoder and task heads together into a MultiTaskNet.

Where the tasks branch is what goes into the trunk and what into each head:

    sharing="hard", branch="head"      trunk = encoder + decoder, each head a small DenseHead / ImageHead
    sharing="hard", branch="decoder"   trunk = encoder only, each dense head its own decoder (DecoderHead)
    sharing="none"                     nothing shared: each head is a whole single-task network

    model = build_model([semseg, depth], encoder="unet")
    outputs = model(images)            # {"semseg": [B, 6, H, W], "depth": [B, 1, H, W]}
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torchvision
from torch import nn

from mtl_course.models.decoder import Decoder
from mtl_course.models.encoders import ResNetEncoder, UNetEncoder
from mtl_course.models.heads import DecoderHead, DenseHead, ImageHead
from mtl_course.models.multitask import MultiTaskNet, OwnNetwork
from mtl_course.models.pretrained import imagenet_weights, load_course_backbone, record_pretrained
from mtl_course.models.trunk import Trunk
from mtl_course.tasks import Task, get_task

ENCODERS = ("unet", "resnet18")
SHARINGS = ("hard", "none")
BRANCHES = ("head", "decoder")
PRETRAINED = (None, "course", "imagenet")
DECODER_WIDTHS = {"unet": [16, 32, 64, 128], "resnet18": [32, 64, 128, 256]}
FEATURE_CHANNELS = 16          # channels of the full-resolution map the dense heads read


def new_encoder(encoder: str, weights: torchvision.models.ResNet18_Weights | None = None) -> nn.Module:
    return UNetEncoder() if encoder == "unet" else ResNetEncoder(weights=weights)


def new_decoder(encoder: nn.Module, name: str) -> Decoder:
    return Decoder(encoder.channels, DECODER_WIDTHS[name], encoder.strides[0], out_channels=FEATURE_CHANNELS)


def hard_sharing(tasks: Sequence[Task], encoder: str = "unet", branch: str = "head",
                 weights: torchvision.models.ResNet18_Weights | None = None) -> MultiTaskNet:
    """One trunk (encoder, + decoder if branch="head"), one head per task (+ its own decoder if "decoder")."""
    shared_encoder = new_encoder(encoder, weights)
    dense = [t.name for t in tasks if t.dense]
    shared_decoder = new_decoder(shared_encoder, encoder) if branch == "head" and dense else None
    own_decoders = {name: new_decoder(shared_encoder, encoder) for name in dense} if branch == "decoder" else {}
    heads = {t.name: DenseHead(FEATURE_CHANNELS, t.out_channels, initial_bias=t.initial_bias) if t.dense
             else ImageHead(shared_encoder.channels[-1], t.out_channels) for t in tasks}
    heads = {name: DecoderHead(own_decoders[name], head) if name in own_decoders else head
             for name, head in heads.items()}
    return MultiTaskNet(Trunk(shared_encoder, shared_decoder), heads)


def no_sharing(tasks: Sequence[Task], encoder: str = "unet",
               weights: torchvision.models.ResNet18_Weights | None = None) -> MultiTaskNet:
    """Nothing shared: an empty trunk (the image itself) and a whole single-task network per task."""
    return MultiTaskNet(nn.Identity(), {t.name: OwnNetwork(hard_sharing([t], encoder, "head", weights), t.name)
                                        for t in tasks})


def _as_tasks(tasks: Any) -> list[Task]:
    if isinstance(tasks, (Task, str)):
        tasks = [tasks]
    tasks = [get_task(t) if isinstance(t, str) else t for t in tasks]
    if not tasks:
        raise ValueError("build_model needs at least one task")
    for t in tasks:
        if not isinstance(t, Task):
            raise TypeError(f"tasks must be Task objects from get_task(...), got {type(t).__name__}")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"each task may appear once, got {names}")
    return tasks


def build_model(tasks: Sequence[Task] | Task, encoder: str = "unet", sharing: str = "hard",
                pretrained: str | None = None, branch: str = "head", seed: int | None = None) -> MultiTaskNet:
    """Build a network with one output per task.

    Args:
        tasks:      Task objects (see mtl_course.tasks.get_task)
        encoder:    "unet" (small: 1.2 M parameters for 5 tasks, fast on a CPU) or "resnet18" (torchvision)
        sharing:    "hard" (one shared trunk) or "none" (an independent network per task)
        pretrained: None (random init), "imagenet" (torchvision weights, resnet18 only; needs the
                    weight file or internet) or "course" (the backbone the course ships, unet only;
                    see mtl_course.models.pretrained)
        branch:     with sharing="hard": "head" puts the decoder in the trunk, "decoder" gives each task its own
        seed:       draw the initial weights from a generator seeded with `seed`, whatever ran before (the
                    global random state is left as it was); None: from the global random state, as torch does
    Returns:
        a MultiTaskNet; model(x) -> {task name: output}; model.config rebuilds it (see save_checkpoint)
    """
    tasks = _as_tasks(tasks)
    for name, value, valid in (("encoder", encoder, ENCODERS), ("sharing", sharing, SHARINGS),
                               ("branch", branch, BRANCHES), ("pretrained", pretrained, PRETRAINED)):
        if value not in valid:
            raise ValueError(f"unknown {name} {value!r}; valid values are {list(valid)}")
    weights = None
    if pretrained == "imagenet":
        if encoder != "resnet18":
            raise ValueError(f"pretrained='imagenet' exists only for encoder='resnet18', not {encoder!r}; "
                             f"the course's own backbone is encoder='unet', pretrained='course'")
        weights = imagenet_weights()
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = (hard_sharing(tasks, encoder, branch, weights) if sharing == "hard"
                 else no_sharing(tasks, encoder, weights))
    model.config = {"tasks": [t.spec() for t in tasks], "encoder": encoder, "sharing": sharing,
                    "branch": branch, "pretrained": pretrained, "seed": seed}
    if pretrained == "course":
        load_course_backbone(model, encoder)            # also records model.pretrained_state
    elif weights is not None:                           # what transfer.L2SP keeps the encoder close to
        record_pretrained(model, [m for m in model.modules() if isinstance(m, (UNetEncoder, ResNetEncoder))])
    return model


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with requires_grad if trainable_only)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)

"""build_model: put encoder, decoder and task heads together into a MultiTaskNet.

Where the tasks branch is what goes into the trunk and what into each head:

    sharing="hard", branch="head"      trunk = encoder + decoder, each head a small DenseHead / ImageHead
    sharing="hard", branch="decoder"   trunk = encoder only, each dense head its own decoder (DecoderHead)
    sharing="none"                     nothing shared: each head is a whole single-task network
    sharing="cross_stitch"             one encoder per task, mixed after every stage (models/cross_stitch.py);
                                       each task its own decoder and head
    sharing="attention"                one shared encoder, each task's masks on it (models/attention.py);
                                       each task its own decoder and head

    model = build_model([semseg, depth], encoder="unet")
    outputs = model(images)            # {"semseg": [B, 6, H, W], "depth": [B, 1, H, W]}
    count_parameters(model), count_macs(model, 64)    # its size, and its cost on a 64x64 image
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mtl_course.models.attention import TaskAttention
from mtl_course.models.cross_stitch import CrossStitchTrunk, OwnFeatures
from mtl_course.models.decoder import Decoder
from mtl_course.models.encoders import ResNetEncoder, UNetEncoder
from mtl_course.models.heads import DecoderHead, DenseHead, ImageHead
from mtl_course.models.multitask import MultiTaskNet, OwnNetwork
from mtl_course.models.pretrained import imagenet_weights, load_course_backbone, record_pretrained
from mtl_course.models.trunk import Trunk
from mtl_course.tasks import Task, get_task

ENCODERS = ("unet", "resnet18")
SHARINGS = ("hard", "none", "cross_stitch", "attention")
BRANCHES = ("head", "decoder")
PRETRAINED = (None, "course", "imagenet")
UNET_CHANNELS = (16, 32, 64, 128, 128)
DECODER_WIDTHS = {"unet": [16, 32, 64, 128], "resnet18": [32, 64, 128, 256]}
FEATURE_CHANNELS = 16          # channels of the full-resolution map the dense heads read


def scaled(channels: Sequence[int], width: float) -> list[int]:
    """Channel counts times `width` (at least 4 each): width=0.5 gives a half-width network, ~1/4 of the weights."""
    return [max(4, round(c * width)) for c in channels]


def new_encoder(encoder: str, weights: torchvision.models.ResNet18_Weights | None = None,
                width: float = 1.0) -> nn.Module:
    if encoder == "unet":
        return UNetEncoder(tuple(scaled(UNET_CHANNELS, width)))
    return ResNetEncoder(weights=weights)


def new_decoder(encoder: nn.Module, name: str, width: float = 1.0) -> Decoder:
    return Decoder(encoder.channels, scaled(DECODER_WIDTHS[name], width), encoder.strides[0],
                   out_channels=feature_channels(width))


def feature_channels(width: float = 1.0) -> int:
    """Channels of the full-resolution map the dense heads read."""
    return scaled([FEATURE_CHANNELS], width)[0]


def hard_sharing(tasks: Sequence[Task], encoder: str = "unet", branch: str = "head",
                 weights: torchvision.models.ResNet18_Weights | None = None, width: float = 1.0) -> MultiTaskNet:
    """One trunk (encoder, + decoder if branch="head"), one head per task (+ its own decoder if "decoder")."""
    shared_encoder = new_encoder(encoder, weights, width)
    dense = [t.name for t in tasks if t.dense]
    shared_decoder = new_decoder(shared_encoder, encoder, width) if branch == "head" and dense else None
    own_decoders = ({name: new_decoder(shared_encoder, encoder, width) for name in dense} if branch == "decoder"
                    else {})
    heads = {t.name: DenseHead(feature_channels(width), t.out_channels, initial_bias=t.initial_bias) if t.dense
             else ImageHead(shared_encoder.channels[-1], t.out_channels) for t in tasks}
    heads = {name: DecoderHead(own_decoders[name], head) if name in own_decoders else head
             for name, head in heads.items()}
    return MultiTaskNet(Trunk(shared_encoder, shared_decoder), heads)


def no_sharing(tasks: Sequence[Task], encoder: str = "unet",
               weights: torchvision.models.ResNet18_Weights | None = None, width: float = 1.0) -> MultiTaskNet:
    """Nothing shared: an empty trunk (the image itself) and a whole single-task network per task."""
    return MultiTaskNet(nn.Identity(), {t.name: OwnNetwork(hard_sharing([t], encoder, "head", weights, width), t.name)
                                        for t in tasks})


def own_path(task: Task, encoder: nn.Module, name: str, width: float = 1.0) -> nn.Module:
    """A task's own decoder and head over an encoder's pyramid (image-level tasks: an ImageHead on its last map)."""
    if not task.dense:
        return ImageHead(encoder.channels[-1], task.out_channels)
    return DecoderHead(new_decoder(encoder, name, width),
                       DenseHead(feature_channels(width), task.out_channels, initial_bias=task.initial_bias))


def cross_stitch_sharing(tasks: Sequence[Task], encoder: str = "unet",
                         weights: torchvision.models.ResNet18_Weights | None = None,
                         width: float = 1.0) -> MultiTaskNet:
    """One encoder per task, mixed by cross-stitch units after every stage; each task its own decoder and head."""
    encoders = {t.name: new_encoder(encoder, weights, width) for t in tasks}
    heads = {t.name: OwnFeatures(t.name, own_path(t, encoders[t.name], encoder, width)) for t in tasks}
    return MultiTaskNet(CrossStitchTrunk(encoders), heads, shared_features=False)


def attention_sharing(tasks: Sequence[Task], encoder: str = "unet",
                      weights: torchvision.models.ResNet18_Weights | None = None, width: float = 1.0) -> MultiTaskNet:
    """One shared encoder (the trunk); each task's attention masks on its stages, then its own decoder and head."""
    shared_encoder = new_encoder(encoder, weights, width)
    heads = {t.name: TaskAttention(shared_encoder.channels, own_path(t, shared_encoder, encoder, width))
             for t in tasks}
    return MultiTaskNet(Trunk(shared_encoder), heads)


def _as_tasks(tasks: Any) -> list[Task]:
    if isinstance(tasks, (Task, str)):
        tasks = [tasks]
    tasks = [get_task(t) if isinstance(t, str) else t for t in tasks]
    if not tasks:
        raise ValueError("build_model needs at least one task")
    for t in tasks:
        if not isinstance(t, Task):
            raise TypeError(f"tasks must be Task objects from get_task(...), got {type(t).__name__}")
        if not t.own_output:
            raise ValueError(f"{t.name} is a loss on other tasks' outputs, not a task the model predicts: build the "
                             f"model for the tasks it reads ({', '.join(t.reads)}) and pass {t.name} to fit only")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"each task may appear once, got {names}")
    return tasks


def build_model(tasks: Sequence[Task] | Task, encoder: str = "unet", sharing: str = "hard",
                pretrained: str | None = None, branch: str | None = None, seed: int | None = None,
                width: float = 1.0) -> MultiTaskNet:
    """Build a network with one output per task.

    Args:
        tasks:      Task objects (see mtl_course.tasks.get_task)
        encoder:    "unet" (small: 1.2 M parameters for 5 tasks, fast on a CPU) or "resnet18" (torchvision)
        sharing:    "hard" (one shared trunk), "none" (an independent network per task), "cross_stitch" (one
                    network per task, their encoder stages mixed by learned cross-stitch units, Misra et al.
                    2016) or "attention" (one shared encoder, per-task soft attention masks on each stage, MTAN,
                    Liu et al. 2019); every sharing works with both encoders and every pretrained choice
        pretrained: None (random init), "imagenet" (torchvision weights, resnet18 only; needs the
                    weight file or internet) or "course" (the backbone the course ships, unet only;
                    see mtl_course.models.pretrained); with one encoder per task, each starts from it
        branch:     with sharing="hard": "head" (the default) puts the decoder in the trunk, "decoder" gives each
                    task its own. cross_stitch and attention always give each task its own decoder ("decoder")
        width:      unet only: multiply the channel count of every encoder and decoder layer (0.5: a half-width
                    network with about a quarter of the weights and multiply-adds, e.g. a student for
                    compress.distill); the small heads keep their 16 hidden channels
        seed:       draw the initial weights from a generator seeded with `seed`, whatever ran before (the
                    global random state is left as it was); None: from the global random state, as torch does
    Returns:
        a MultiTaskNet; model(x) -> {task name: output}; model.config rebuilds it (see save_checkpoint)
    """
    tasks = _as_tasks(tasks)
    for name, value, valid in (("encoder", encoder, ENCODERS), ("sharing", sharing, SHARINGS),
                               ("branch", branch, (*BRANCHES, None)), ("pretrained", pretrained, PRETRAINED)):
        if value not in valid:
            raise ValueError(f"unknown {name} {value!r}; valid values are {[v for v in valid if v is not None]}")
    if sharing in ("cross_stitch", "attention") and branch == "head":
        raise ValueError(f"sharing={sharing!r} gives every task its own decoder; branch='head' (one decoder in the "
                         f"trunk) exists only for sharing='hard'. Leave branch out, or pass branch='decoder'")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 4:
        raise ValueError(f"width multiplies the channel counts: a number in (0, 4], got {width!r}")
    if width != 1 and (encoder != "unet" or pretrained is not None):
        raise ValueError(f"width={width} changes the layers' sizes: it exists only for encoder='unet' without "
                         f"pretrained weights (the pretrained encoders have fixed sizes)")
    branch = "decoder" if sharing in ("cross_stitch", "attention") else branch or "head"
    weights = None
    if pretrained == "imagenet":
        if encoder != "resnet18":
            raise ValueError(f"pretrained='imagenet' exists only for encoder='resnet18', not {encoder!r}; "
                             f"the course's own backbone is encoder='unet', pretrained='course'")
        weights = imagenet_weights()
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        if sharing == "hard":
            model = hard_sharing(tasks, encoder, branch, weights, width)
        elif sharing == "none":
            model = no_sharing(tasks, encoder, weights, width)
        else:
            build = cross_stitch_sharing if sharing == "cross_stitch" else attention_sharing
            model = build(tasks, encoder, weights, width)
    model.config = {"tasks": [t.spec() for t in tasks], "encoder": encoder, "sharing": sharing,
                    "branch": branch, "pretrained": pretrained, "seed": seed, "width": width}
    if pretrained == "course":
        load_course_backbone(model, encoder)            # also records model.pretrained_state
    elif weights is not None:                           # what transfer.L2SP keeps the encoder close to
        record_pretrained(model, [m for m in model.modules() if isinstance(m, (UNetEncoder, ResNetEncoder))])
    return model


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with requires_grad if trainable_only)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, size: int | tuple[int, int]) -> int:
    """Multiply-adds of one forward pass on one image of size (H, W) (an int: square), in eval mode.

    Counts what torch.utils.flop_counter counts, convolutions and matrix products (FLOPs / 2: one multiply and
    one add per MAC), which are nearly all of a CNN's arithmetic. Not counted: batch norm, activations, pooling,
    upsampling, and the elementwise products of attention masks and cross-stitch mixing.
    """
    height, width = (size, size) if isinstance(size, int) else size
    device = next(model.parameters()).device
    images = torch.zeros(1, 3, height, width, device=device)
    was_training = model.training
    model.eval()                                     # batch norm on running statistics: any batch size works
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(images)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2

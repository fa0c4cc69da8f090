"""build_model: put encoder, decoder and task heads together.

    sharing="hard", branch="head"      one encoder + one decoder shared by all tasks, a small head each
    sharing="hard", branch="decoder"   one shared encoder, a decoder + head per task
    sharing="none"                     one complete, independent network per task (single-task learning)

    model = build_model([semseg, depth], encoder="unet")
    outputs = model(images)            # {"semseg": [B, 6, H, W], "depth": [B, 1, H, W]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence
from urllib.error import URLError

import torch
import torchvision
from torch import Tensor, nn

from mtl_course.models.decoder import Decoder
from mtl_course.models.encoders import ResNetEncoder, UNetEncoder
from mtl_course.models.heads import DenseHead, ImageHead
from mtl_course.models.pretrained import load_course_backbone, record_pretrained
from mtl_course.tasks import Task, get_task

ENCODERS = ("unet", "resnet18")
SHARINGS = ("hard", "none")
BRANCHES = ("head", "decoder")
PRETRAINED = (None, "course", "imagenet")
DECODER_WIDTHS = {"unet": [16, 32, 64, 128], "resnet18": [32, 64, 128, 256]}
FEATURE_CHANNELS = 16          # channels of the full-resolution map the dense heads read


def check_image_batch(x: Tensor) -> None:
    """Raise a ValueError unless x is a float image batch [B, 3, H, W] with H, W multiples of 16, >= 32."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"the model expects images of shape [B, 3, H, W], got {shape}; "
                         f"add a batch dimension with x.unsqueeze(0) for a single image")
    height, width = x.shape[-2:]
    if height % 16 or width % 16 or height < 32 or width < 32:
        raise ValueError(f"image size {height}x{width} does not work: height and width must be multiples "
                         f"of 16 and at least 32 (the encoder halves them 4 times)")


def imagenet_weights() -> torchvision.models.ResNet18_Weights:
    """torchvision's ImageNet weights for ResNet-18, loaded now so an offline machine fails early."""
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    try:
        weights.get_state_dict(progress=False)
    except (URLError, OSError, RuntimeError) as err:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise RuntimeError(
            f"pretrained='imagenet' needs the ResNet-18 ImageNet weights, which could not be downloaded "
            f"({type(err).__name__}: {err}). If you are offline, download {weights.url} on a machine "
            f"with internet and put it at {cache}; or train from scratch with pretrained=None.") from err
    return weights


class MultiTaskNet(nn.Module):
    """A shared encoder and a head per task. See the module docstring for `branch`."""

    def __init__(self, tasks: Sequence[Task], encoder: str = "unet", branch: str = "head",
                 weights: Any = None) -> None:
        super().__init__()
        self.encoder = UNetEncoder() if encoder == "unet" else ResNetEncoder(weights=weights)
        self.branch = branch
        dense = [t.name for t in tasks if t.dense]

        def new_decoder() -> Decoder:
            return Decoder(self.encoder.channels, DECODER_WIDTHS[encoder], self.encoder.strides[0],
                           out_channels=FEATURE_CHANNELS)

        self.decoder = new_decoder() if branch == "head" and dense else None
        self.decoders = nn.ModuleDict({name: new_decoder() for name in dense} if branch == "decoder" else {})
        feature_channels = FEATURE_CHANNELS
        self.heads = nn.ModuleDict({
            t.name: DenseHead(feature_channels, t.out_channels, initial_bias=t.initial_bias) if t.dense
            else ImageHead(self.encoder.channels[-1], t.out_channels)
            for t in tasks})

    @property
    def task_names(self) -> list[str]:
        return list(self.heads)

    def shared_parameters(self) -> list[nn.Parameter]:
        """The parameters every task uses: the encoder, and the decoder when it is shared."""
        shared = [*self.encoder.parameters(), *(self.decoder.parameters() if self.decoder is not None else [])]
        return [p for p in shared if p.requires_grad]

    def shared_representation(self, x: Tensor) -> list[Tensor]:
        """What the task-specific parts read: branch="head": [decoder output (if a dense task),
        encoder's last features (if an image-level task)]; branch="decoder": the encoder's features."""
        check_image_batch(x)
        return self.represent(self.encoder(x), (x.shape[-2], x.shape[-1]))

    def represent(self, features: Sequence[Tensor], size: tuple[int, int]) -> list[Tensor]:
        """The part of shared_representation after the encoder: encoder features -> what the heads read.
        (transfer.CachedFeatureModel calls it on features computed once by a frozen encoder.)"""
        if self.branch == "decoder":
            return list(features)
        representation = [self.decoder(features, size)] if self.decoder is not None else []
        if any(isinstance(head, ImageHead) for head in self.heads.values()):
            representation.append(features[-1])
        return representation

    def task_outputs(self, representation: Sequence[Tensor], size: tuple[int, int]) -> dict[str, Tensor]:
        """The task-specific part: shared_representation(x) -> {task: output} (see forward)."""
        if self.branch == "decoder":
            features, shared, last = representation, None, representation[-1]
        else:
            shared = representation[0] if self.decoder is not None else None
            last = representation[-1]
        outputs = {}
        for name, head in self.heads.items():
            if isinstance(head, ImageHead):
                outputs[name] = head(last)
            else:
                outputs[name] = head(shared if shared is not None else self.decoders[name](features, size))
        return outputs

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """x: float [B, 3, H, W] -> {task: [B, C_task, H, W] (dense) or [B, C_task] (image-level)}."""
        return self.task_outputs(self.shared_representation(x), (x.shape[-2], x.shape[-1]))


class SeparateNets(nn.Module):
    """sharing="none": one independent single-task network per task, called together."""

    def __init__(self, tasks: Sequence[Task], encoder: str = "unet", weights: Any = None) -> None:
        super().__init__()
        self.nets = nn.ModuleDict({t.name: MultiTaskNet([t], encoder, "head", weights) for t in tasks})

    @property
    def task_names(self) -> list[str]:
        return list(self.nets)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {name: net(x)[name] for name, net in self.nets.items()}


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
                pretrained: str | None = None, branch: str = "head") -> nn.Module:
    """Build a network with one output per task.

    Args:
        tasks:      Task objects (see mtl_course.tasks.get_task)
        encoder:    "unet" (small: 1.2 M parameters for 5 tasks, fast on a CPU) or "resnet18" (torchvision)
        sharing:    "hard" (one shared encoder) or "none" (an independent network per task)
        pretrained: None (random init), "imagenet" (torchvision weights, resnet18 only; needs the
                    weight file or internet) or "course" (the backbone the course ships, unet only;
                    see mtl_course.models.pretrained)
        branch:     with sharing="hard": "head" shares the decoder too, "decoder" gives each task its own
    Returns:
        an nn.Module; model(x) -> {task name: output}; model.config rebuilds it (see save_checkpoint)
    """
    tasks = _as_tasks(tasks)
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; valid encoders are {list(ENCODERS)}")
    if sharing not in SHARINGS:
        raise ValueError(f"unknown sharing {sharing!r}; valid values are {list(SHARINGS)}")
    if branch not in BRANCHES:
        raise ValueError(f"unknown branch {branch!r}; valid values are {list(BRANCHES)}")
    if pretrained not in PRETRAINED:
        raise ValueError(f"unknown pretrained {pretrained!r}; valid values are {list(PRETRAINED)}")
    weights = None
    if pretrained == "imagenet":
        if encoder != "resnet18":
            raise ValueError(f"pretrained='imagenet' exists only for encoder='resnet18', not {encoder!r}; "
                             f"the course's own backbone is encoder='unet', pretrained='course'")
        weights = imagenet_weights()
    model = (MultiTaskNet(tasks, encoder, branch, weights) if sharing == "hard"
             else SeparateNets(tasks, encoder, weights))
    model.config = {"tasks": [t.spec() for t in tasks], "encoder": encoder, "sharing": sharing,
                    "branch": branch, "pretrained": pretrained}
    if pretrained == "course":
        load_course_backbone(model, encoder)            # also records model.pretrained_state
    elif weights is not None:                           # what transfer.L2SP keeps the encoder close to
        record_pretrained(model, [model.encoder] if sharing == "hard" else [n.encoder for n in model.nets.values()])
    return model


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with requires_grad if trainable_only)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)

"""Encoders: image -> a pyramid of feature maps, finest first.

Both encoders return a list of tensors [B, C_i, H / s_i, W / s_i] and describe themselves with
`channels` (C_i) and `strides` (s_i) so one decoder fits either.

    UNetEncoder    channels 16, 32, 64, 128, 128   strides 1, 2, 4, 8, 16    0.59 M parameters
    ResNetEncoder  channels 64, 64, 128, 256, 512  strides 2, 4, 8, 16, 32   11.2 M (torchvision ResNet-18)
"""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by batch norm and ReLU (the UNet building block)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNetEncoder(nn.Module):
    """The contracting half of a small UNet (Ronneberger et al. 2015): conv blocks and 2x2 max-pools."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128, 128)) -> None:
        super().__init__()
        self.channels = list(channels)
        self.strides = [2 ** i for i in range(len(channels))]
        ins = [3, *channels[:-1]]
        self.stages = nn.ModuleList(conv_block(i, o) for i, o in zip(ins, channels))
        self.stage_names = [f"stage{i}" for i in range(len(channels))]

    def named_stages(self) -> list[tuple[str, nn.Module]]:
        """(name, module) of each stage, first to last: what transfer.freeze names."""
        return list(zip(self.stage_names, self.stages))

    def run_stage(self, i: int, x: Tensor) -> Tensor:
        """Stage i alone: stage i-1's output (the image for i = 0) -> float [B, channels[i], H / 2^i, W / 2^i].
        A cross-stitch network (models/cross_stitch.py) mixes the tasks' maps between two stages."""
        return self.stages[i](x if i == 0 else nn.functional.max_pool2d(x, 2))

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: float [B, 3, H, W] -> list of [B, channels[i], H / 2^i, W / 2^i]."""
        features = []
        for i in range(len(self.stages)):
            x = self.run_stage(i, x)
            features.append(x)
        return features


class ResNetEncoder(nn.Module):
    """torchvision's ResNet-18 without its classifier; stages stem, layer1..layer4."""

    stage_names = ["stem", "layer1", "layer2", "layer3", "layer4"]

    def __init__(self, weights: torchvision.models.ResNet18_Weights | None = None) -> None:
        super().__init__()
        net = torchvision.models.resnet18(weights=weights)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.pool = net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.channels = [64, 64, 128, 256, 512]
        self.strides = [2, 4, 8, 16, 32]
        # ImageNet weights expect ImageNet-normalised inputs; images in this course are in [0, 1]
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def named_stages(self) -> list[tuple[str, nn.Module]]:
        """(name, module) of each stage, first to last: what transfer.freeze names."""
        return [(name, getattr(self, name)) for name in self.stage_names]

    def run_stage(self, i: int, x: Tensor) -> Tensor:
        """Stage i alone: stage i-1's output (the image in [0, 1] for i = 0) -> the map at stride strides[i]."""
        if i == 0:
            return self.stem((x - self.mean) / self.std)
        return self.layer1(self.pool(x)) if i == 1 else getattr(self, self.stage_names[i])(x)

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: float [B, 3, H, W] in [0, 1] -> 5 maps at strides 2, 4, 8, 16, 32."""
        features = []
        for i in range(len(self.stage_names)):
            x = self.run_stage(i, x)
            features.append(x)
        return features

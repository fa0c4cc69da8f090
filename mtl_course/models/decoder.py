"""A UNet-style decoder: upsample the coarsest features, merge each finer level, end at full size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtl_course.models.encoders import conv_block


class Decoder(nn.Module):
    """Features of an encoder pyramid -> one full-resolution feature map [B, out_channels, H, W].

    Args:
        skip_channels: the encoder's channels, finest first (e.g. 16, 32, 64, 128, 128)
        widths:        the decoder's channels at each but the coarsest level, finest first
        first_stride:  stride of the finest encoder map; if > 1 a last block works at full size
        out_channels:  channels of the returned map (the heads' input)
    """

    def __init__(self, skip_channels: list[int], widths: list[int], first_stride: int = 1,
                 out_channels: int = 16) -> None:
        super().__init__()
        if len(widths) != len(skip_channels) - 1:
            raise ValueError(f"need one decoder width per encoder level but the coarsest, "
                             f"got widths={widths} for skip_channels={skip_channels}")
        below = [*widths[1:], skip_channels[-1]]     # channels arriving from the coarser level
        self.blocks = nn.ModuleList(conv_block(skip + up, width)
                                    for skip, up, width in zip(skip_channels[:-1], below, widths))
        self.final = conv_block(widths[0], out_channels) if first_stride > 1 else None
        self.out_channels = out_channels if first_stride > 1 else widths[0]

    def forward(self, features: list[Tensor], size: tuple[int, int]) -> Tensor:
        """features: the encoder's list (finest first); size: (H, W) of the input image."""
        x = features[-1]
        for level in reversed(range(len(self.blocks))):
            skip = features[level]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.blocks[level](torch.cat([skip, x], dim=1))
        if self.final is not None:
            x = self.final(F.interpolate(x, size=size, mode="bilinear", align_corners=False))
        return x

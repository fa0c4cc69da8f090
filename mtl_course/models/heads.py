"""Task heads: the small task-specific layers that read the shared Features.

    DenseHead    reads shared.dense   -> [B, C_task, H, W]   (semseg, depth, edges, normals)
    ImageHead    reads shared.coarse  -> [B, C_task]         (labels)
    DecoderHead  its own decoder over shared.pyramid, then a DenseHead (when only the encoder is shared)
"""

from __future__ import annotations

from dataclasses import replace

from torch import Tensor, nn

from mtl_course.models.decoder import Decoder
from mtl_course.models.trunk import Features


class DenseHead(nn.Module):
    """shared.dense [B, C_in, H, W] -> [B, out_channels, H, W]: a 3x3 conv + ReLU, then a 1x1 conv.

    initial_bias, if given, is the value the outputs start near (e.g. a typical depth in metres).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 16,
                 initial_bias: float | None = None) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                    nn.Conv2d(hidden, out_channels, 1))
        if initial_bias is not None:
            nn.init.constant_(self.layers[-1].bias, initial_bias)

    def forward(self, shared: Features) -> Tensor:
        return self.layers(shared.dense)


class ImageHead(nn.Module):
    """shared.coarse [B, C_in, h, w] -> [B, out_channels]: global average pool + linear."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)

    def forward(self, shared: Features) -> Tensor:
        return self.linear(shared.coarse.mean(dim=(2, 3)))


class DecoderHead(nn.Module):
    """A dense task's own decoder, then its head: what a head holds when only the encoder is shared.

    shared.pyramid -> decoder -> [B, F, H, W] -> head -> [B, out_channels, H, W]
    """

    def __init__(self, decoder: Decoder, head: DenseHead) -> None:
        super().__init__()
        self.decoder = decoder
        self.head = head

    def forward(self, shared: Features) -> Tensor:
        own = self.decoder(shared.pyramid, shared.size)          # this task's full-resolution features
        return self.head(replace(shared, dense=own))

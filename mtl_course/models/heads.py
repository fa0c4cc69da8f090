"""Task heads: the small task-specific layers on top of the shared features."""

from __future__ import annotations

from torch import Tensor, nn


class DenseHead(nn.Module):
    """[B, C_in, H, W] -> [B, out_channels, H, W]: a 3x3 conv + ReLU, then a 1x1 conv to the outputs.

    initial_bias, if given, is the value the outputs start near (e.g. a typical depth in metres).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 16,
                 initial_bias: float | None = None) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                    nn.Conv2d(hidden, out_channels, 1))
        if initial_bias is not None:
            nn.init.constant_(self.layers[-1].bias, initial_bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class ImageHead(nn.Module):
    """[B, C_in, h, w] (the coarsest encoder map) -> [B, out_channels]: global average pool + linear."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.mean(dim=(2, 3)))

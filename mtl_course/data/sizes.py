"""Image sizes the models accept: height and width multiples of 16, at least 32 (the encoder halves them 4 times).

Real images rarely come that way (480x360 video frames, 500x375 VOC photos). Two fixes, for an image and its
label maps together:

    image, mask = pad_to_multiple(image, mask)            # 360x480 -> 368x480: zeros below, void (255) in the mask
    image, mask = resize_to_multiple(image, mask)         # 360x480 -> 352x480: bilinear image, nearest mask

Padding keeps every pixel (crop the prediction back with [..., :H, :W]); resizing keeps the frame but moves the
pixels. Both take [C, H, W] or [B, C, H, W] images and [H, W] / [B, H, W] / [B, 1, H, W] maps.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

MULTIPLE, SMALLEST = 16, 32
VOID = 255


def _target(height: int, width: int, multiple: int, up: bool) -> tuple[int, int]:
    def one(side: int) -> int:
        q = -(-side // multiple) if up else max(1, round(side / multiple))
        return max(SMALLEST, q * multiple)
    return one(height), one(width)


def _check(image: Tensor, maps: tuple[Tensor, ...], multiple: int) -> None:
    if not isinstance(image, Tensor) or image.dim() not in (3, 4):
        raise ValueError(f"image must be a tensor [C, H, W] or [B, C, H, W], got "
                         f"{tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__}")
    if not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
    for m in maps:
        if tuple(m.shape[-2:]) != tuple(image.shape[-2:]):
            raise ValueError(f"a label map of size {tuple(m.shape[-2:])} does not match the image's "
                             f"{tuple(image.shape[-2:])}: resize them together first")


def pad_to_multiple(image: Tensor, *maps: Tensor, multiple: int = MULTIPLE, void: int = VOID,
                    map_fill: float | None = None) -> tuple[Tensor, ...]:
    """Pad the bottom and right of `image` (with 0) and of each label map (with `void`, or `map_fill` for a float
    map such as depth) up to the next multiple of `multiple` (and at least 32); returns (image, *maps)."""
    _check(image, maps, multiple)
    height, width = image.shape[-2:]
    new_h, new_w = _target(height, width, multiple, up=True)
    pad = (0, new_w - width, 0, new_h - height)
    padded = [F.pad(image, pad, value=0.0)]
    for m in maps:
        fill = (0.0 if map_fill is None else map_fill) if m.is_floating_point() else void
        padded.append(F.pad(m, pad, value=fill))
    return tuple(padded)


def resize_to_multiple(image: Tensor, *maps: Tensor, multiple: int = MULTIPLE) -> tuple[Tensor, ...]:
    """Resize `image` (bilinear, antialiased) and each label map (nearest: class ids stay class ids) to the nearest
    multiples of `multiple` (at least 32); returns (image, *maps)."""
    _check(image, maps, multiple)
    size = list(_target(*image.shape[-2:], multiple, up=False))
    out = [TF.resize(image, size, interpolation=InterpolationMode.BILINEAR, antialias=True)]
    for m in maps:
        squeeze = m.dim() == 2
        values = (m[None] if squeeze else m).float()       # nearest on floats: exact for any class id below 2^24
        resized = TF.resize(values, size, interpolation=InterpolationMode.NEAREST_EXACT).to(m.dtype)
        out.append(resized[0] if squeeze else resized)
    return tuple(out)

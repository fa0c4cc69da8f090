"""The shared part of a hard-sharing network: a trunk turns images into the Features every head reads.

    shared = trunk(images)          # Features: the encoder's pyramid, and the decoder's map if it is shared
    shared.dense                    # [B, 16, H, W]  what dense heads read (the trunk's decoder output)
    shared.coarse                   # [B, C, h, w]   what image-level heads read (the coarsest encoder map)
    shared.pyramid                  # the encoder's maps, finest first (a head with its own decoder reads them)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mtl_course.device import reads_are_free


@dataclass
class Features:
    """What a trunk hands to every head.

    size:    (H, W) of the input images (a decoder upsamples to it)
    pyramid: the encoder's maps, finest first, each float [B, C_i, H / s_i, W / s_i]
    dense:   float [B, F, H, W], the shared decoder's full-resolution map; None when the decoder is not
             in the trunk (then each dense head decodes the pyramid itself)
    """

    size: tuple[int, int]
    pyramid: list[Tensor]
    dense: Tensor | None = None

    @property
    def coarse(self) -> Tensor:
        """float [B, C, h, w]: the coarsest encoder map, what image-level heads (labels) read."""
        return self.pyramid[-1]

    def tensors(self) -> list[Tensor]:
        """Every tensor in it, dense first (the order in which fit(grad_level="features") flattens them)."""
        return [t for t in [self.dense, *self.pyramid] if t is not None]

    def detached(self) -> Features:
        """A copy cut off from the trunk's graph, each tensor a new leaf that requires grad: heads that read it
        give d(loss) / d(features) without a backward pass through the trunk."""
        def leaf(t: Tensor) -> Tensor:
            return t.detach().requires_grad_()
        return Features(self.size, [leaf(t) for t in self.pyramid], leaf(self.dense) if self.dense is not None else None)


FAR_OUTSIDE = 5.0        # |value| beyond this is no image in [0, 1], nor one normalised with ImageNet's mean and std


def check_image_values(x: Tensor) -> None:
    """Raise a ValueError if float images are far outside [0, 1] (e.g. 0..255 values stored as floats)."""
    low, high = x.min().item(), x.max().item()
    if high > FAR_OUTSIDE or low < -FAR_OUTSIDE:
        raise ValueError(f"image values range from {low:g} to {high:g}, far outside [0, 1]: "
                         + ("they look like 8-bit values stored as floats; divide them by 255"
                            if high > FAR_OUTSIDE and low >= 0 else "rescale them to [0, 1]")
                         + " (the course's images are floats in [0, 1], as torchvision's ToDtype(scale=True) "
                           "makes them)")


def as_image_batch(x: Tensor) -> Tensor:
    """x as a float image batch [B, 3, H, W], H and W multiples of 16 and >= 32, or a ValueError saying why.

    uint8 images (0..255, as read from files) become floats in [0, 1]; other integer types are refused.
    Float images far outside [0, 1] are refused on the CPU (on a GPU, fit and evaluate check the data once)."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        if isinstance(x, Tensor) and x.dim() == 3 and x.shape[0] == 3:
            fix = "add a batch dimension with x.unsqueeze(0) for a single image"
        elif isinstance(x, Tensor) and x.dim() == 4 and x.shape[-1] == 3:
            fix = "these look channels-last [B, H, W, 3] (as PIL and NumPy give them): use x.permute(0, 3, 1, 2)"
        elif isinstance(x, Tensor) and x.dim() == 3 and x.shape[-1] == 3:
            fix = "this looks like one channels-last image [H, W, 3]: use x.permute(2, 0, 1).unsqueeze(0)"
        else:
            fix = "a single image [3, H, W] needs x.unsqueeze(0); channels-last images need x.permute(0, 3, 1, 2)"
        raise ValueError(f"the model expects images of shape [B, 3, H, W], got {shape}; {fix}")
    height, width = x.shape[-2:]
    if height % 16 or width % 16 or height < 32 or width < 32:
        raise ValueError(f"image size {height}x{width} does not work: height and width must be multiples "
                         f"of 16 and at least 32 (the encoder halves them 4 times): pad or resize the images and "
                         f"their label maps with mtl_course.data.pad_to_multiple or resize_to_multiple")
    if x.dtype == torch.uint8:
        return x.float() / 255
    if not x.is_floating_point():
        raise ValueError(f"images of type {x.dtype} are not supported: pass floats in [0, 1] (x.float() / 255 for "
                         f"8-bit values) or uint8")
    if reads_are_free(x) and not torch.compiler.is_compiling():    # not while torch.export/compile trace it
        check_image_values(x)
    return x


class Trunk(nn.Module):
    """The shared part: an encoder, and the decoder too when the tasks share it.

    Input: float [B, 3, H, W] -> Features(pyramid = encoder(x), dense = decoder(pyramid) or None)
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: Tensor) -> Features:
        x = as_image_batch(x)
        size = (x.shape[-2], x.shape[-1])
        pyramid = self.encoder(x)
        return Features(size, pyramid, self.decoder(pyramid, size) if self.decoder is not None else None)

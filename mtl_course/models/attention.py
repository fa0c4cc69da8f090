"""Task attention over a shared encoder, MTAN-style (Liu, Johns & Davison, CVPR 2019, "End-to-End Multi-Task
Learning with Attention"): every task picks, channel by channel and pixel by pixel, what it reads of the shared
features.

At each encoder stage i, task t computes a soft mask in (0, 1) from the shared map and from what it attended to
at the stage before, and keeps the masked shared map:

    mask_i     = sigmoid(g_i([shared_i, pool(attended_{i-1})]))     # float [B, C_i, h_i, w_i]
    attended_i = mask_i * shared_i                                    # what task t's own path reads

g_i is two 1x1 convolutions (with batch norm and ReLU between), as in MTAN; at stage 0 it reads shared_0 alone.
The attended pyramid then feeds the task's own decoder and head (a DecoderHead; labels: an ImageHead on the
coarsest attended map). MTAN also puts attention in a shared decoder; here every task decodes for itself.

    model = build_model(tasks, sharing="attention")
    masks = model.heads["depth"].masks(model.trunk(images))    # [stages] of float [B, C_i, h_i, w_i]

What is shared: the encoder, which every task reads (model.trunk, a Trunk without decoder). The masks, decoders
and heads serve one task each. So shared_parameters() is the encoder's, and fit(grad_level="features") takes the
task gradients at the encoder's pyramid, before any mask: the same meaning as for hard sharing with
branch="decoder".
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtl_course.models.trunk import Features


def mask_block(in_channels: int, channels: int) -> nn.Sequential:
    """[B, in_channels, h, w] -> a mask [B, channels, h, w] in (0, 1): 1x1 conv, BN, ReLU, 1x1 conv, sigmoid."""
    return nn.Sequential(nn.Conv2d(in_channels, channels, 1, bias=False), nn.BatchNorm2d(channels),
                         nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 1), nn.Sigmoid())


class TaskAttention(nn.Module):
    """One task's attention masks, one per encoder stage, and the path that reads the attended features.

    Args:
        channels: the shared encoder's channels, finest first (encoder.channels)
        path:     the task's own head; it reads Features (a DecoderHead, or an ImageHead for image-level tasks)
    Input: the shared Features -> the task's output (whatever `path` returns)
    """

    def __init__(self, channels: list[int], path: nn.Module) -> None:
        super().__init__()
        previous = [0, *channels[:-1]]             # stage 0 has no attended map before it
        self.blocks = nn.ModuleList(mask_block(c + p, c) for c, p in zip(channels, previous))
        self.path = path

    def attend(self, shared: Features) -> tuple[Features, list[Tensor]]:
        """The task's view of the shared features: (Features with the attended pyramid, the masks [stages])."""
        attended: list[Tensor] = []
        masks: list[Tensor] = []
        for block, features in zip(self.blocks, shared.pyramid):
            if attended:                           # the attended map before, pooled to this stage's size
                before = F.adaptive_max_pool2d(attended[-1], features.shape[-2:])
                mask = block(torch.cat([features, before], dim=1))
            else:
                mask = block(features)
            masks.append(mask)
            attended.append(mask * features)
        return replace(shared, pyramid=attended), masks

    def masks(self, shared: Features) -> list[Tensor]:
        """The masks this task puts on `shared`, first stage first: [stages] of float [B, C_i, h_i, w_i] in (0, 1)."""
        return self.attend(shared)[1]

    def forward(self, shared: Features) -> Tensor:
        return self.path(self.attend(shared)[0])

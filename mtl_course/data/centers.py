"""Object centres and offsets from an instance map: the targets of bottom-up instance heads (Panoptic-DeepLab).

Each object's centre is the centre of mass of its visible pixels. Two dense targets describe the objects:

    heatmap  float [B, 1, H, W]  a Gaussian of std `sigma` pixels around every centre (the largest where two meet)
    offsets  float [B, 2, H, W]  on each object pixel, (dy, dx) = its centre - the pixel; 0 on the background

A centre of mass need not lie on its object (a ring's lies in its hole): the heatmap peaks there all the same,
and every pixel of the ring points to it. Grouping (mtl_course.metrics.group_instances) inverts this: peaks of the
heatmap are centres, and pixel + offset says which centre a pixel belongs to.

    heatmap, offsets = center_targets(scenes["instance"])
"""

from __future__ import annotations

import torch
from torch import Tensor

SIGMA = 1.5              # pixels: at 32-64 px scenes, a peak about 3 px wide


def instance_centers(instance: Tensor) -> dict[int, Tensor]:
    """One image's object centres: {instance id: float [2] (row, column), the mean of its pixels}.

    Input: instance int [H, W], 0 = no object.
    """
    rows, columns = torch.meshgrid(torch.arange(instance.shape[0]), torch.arange(instance.shape[1]), indexing="ij")
    return {int(k): torch.stack([rows[instance == k].double().mean(), columns[instance == k].double().mean()])
            for k in instance.unique() if k != 0}


def center_targets(instance: Tensor, sigma: float = SIGMA) -> tuple[Tensor, Tensor]:
    """The centre heatmap and the offsets of every image.

    Input:
        instance: int [B, H, W]  instance ids, 0 = no object
    Returns:
        heatmap float32 [B, 1, H, W] in [0, 1] (1 at the pixel nearest a centre only if the centre is on a pixel);
        offsets float32 [B, 2, H, W] (dy, dx) to the object's centre, 0 where instance == 0
    """
    if instance.dim() != 3 or instance.is_floating_point() or instance.dtype == torch.bool:
        raise ValueError(f"instance must be an integer map [B, H, W] (0 = no object), got {instance.dtype} "
                         f"{tuple(instance.shape)}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    batch, height, width = instance.shape
    rows, columns = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                                   torch.arange(width, dtype=torch.float64), indexing="ij")
    heatmap = torch.zeros(batch, 1, height, width, dtype=torch.float64)
    offsets = torch.zeros(batch, 2, height, width, dtype=torch.float64)
    for b in range(batch):
        for k, (cy, cx) in instance_centers(instance[b].cpu()).items():
            blob = torch.exp(-((rows - cy) ** 2 + (columns - cx) ** 2) / (2 * sigma ** 2))
            heatmap[b, 0] = torch.maximum(heatmap[b, 0], blob)
            inside = instance[b].cpu() == k
            offsets[b, 0][inside] = cy - rows[inside]
            offsets[b, 1][inside] = cx - columns[inside]
    return heatmap.float().to(instance.device), offsets.float().to(instance.device)

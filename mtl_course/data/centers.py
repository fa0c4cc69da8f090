"""Object centres and offsets from an instance map: the targets of bottom-up instance heads (Panoptic-DeepLab).

Each object's centre is the centre of mass of its visible pixels. Two dense targets describe the objects:

    heatmap  float [B, 1, H, W]  a Gaussian of std `sigma` pixels around every centre's pixel (the centre rounded
                                 to the nearest pixel, so each object has exactly one pixel at 1; the largest
                                 value where two Gaussians meet)
    offsets  float [B, 2, H, W]  on each object pixel, (dy, dx) = its centre - the pixel (the exact centre, not the
                                 rounded one); NaN on the background: no object, so no centre to point to

A centre of mass need not lie on its object (a ring's lies in its hole): the heatmap peaks there all the same,
and every pixel of the ring points to it. Grouping (mtl_course.metrics.group_instances) inverts this: peaks of the
heatmap are centres, and pixel + offset says which centre a pixel belongs to.

    heatmap, offsets = center_targets(scenes["instance"])
"""

from __future__ import annotations

import torch
from torch import Tensor

SIGMA = 1.5              # pixels: at 32-64 px scenes, a peak about 3 px wide
BATCH = 128              # images computed at once (bounds the [B, K, H, W] Gaussians' memory)


def check_instance_map(instance: Tensor) -> None:
    """Raise a ValueError naming the problem unless `instance` is an integer map [B, H, W] of ids >= 0."""
    if not isinstance(instance, Tensor):
        raise TypeError(f"instance must be a torch.Tensor [B, H, W], got {type(instance).__name__}")
    if instance.is_floating_point() or instance.dtype == torch.bool:
        raise ValueError(f"instance must be an integer map [B, H, W] (0 = no object), got dtype {instance.dtype}; "
                         f"if the ids are whole numbers stored as floats, use .long()")
    if instance.dim() != 3:
        raise ValueError(f"instance must be an integer map [B, H, W] (0 = no object), got shape "
                         f"{tuple(instance.shape)}; for one image use instance[None]")
    if instance.numel() and int(instance.min()) < 0:
        raise ValueError(f"instance ids must be >= 0 (0 = no object), got {int(instance.min())}")


def instance_centers(instance: Tensor) -> Tensor:
    """Every image's object centres (centres of mass of their pixels).

    Input: instance int [B, H, W], 0 = no object.
    Returns: float64 [B, K, 2] (row, column) for ids k = 0..K-1 (K = the largest id + 1); NaN for id 0 and for
    ids absent from an image.
    """
    check_instance_map(instance)
    batch, height, width = instance.shape
    ids = instance.flatten(1).long()                                              # [B, HW]
    count = int(ids.max()) + 1 if ids.numel() else 1
    rows, columns = torch.meshgrid(torch.arange(height, dtype=torch.float64, device=ids.device),
                                   torch.arange(width, dtype=torch.float64, device=ids.device), indexing="ij")
    sums = torch.zeros(batch, count, 3, dtype=torch.float64, device=ids.device)  # (pixels, sum of rows, of columns)
    per_pixel = torch.stack([torch.ones_like(rows), rows, columns], dim=-1).view(1, -1, 3).expand(batch, -1, -1)
    sums.scatter_add_(1, ids[..., None].expand(-1, -1, 3), per_pixel)
    centers = sums[..., 1:] / sums[..., :1]                                      # 0 / 0 = NaN where an id is absent
    centers[:, 0] = float("nan")
    return centers


def center_targets(instance: Tensor, sigma: float = SIGMA) -> tuple[Tensor, Tensor]:
    """The centre heatmap and the offsets of every image.

    Input:
        instance: int [B, H, W]  instance ids, 0 = no object
    Returns:
        heatmap float32 [B, 1, H, W] in [0, 1], exactly 1 at each object's rounded centre;
        offsets float32 [B, 2, H, W] (dy, dx) to the object's centre, NaN where instance == 0
    """
    check_instance_map(instance)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    if len(instance) > BATCH:
        parts = [center_targets(instance[start:start + BATCH], sigma) for start in range(0, len(instance), BATCH)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    batch, height, width = instance.shape
    centers = instance_centers(instance)                                           # [B, K, 2], NaN if absent
    rows, columns = torch.meshgrid(torch.arange(height, dtype=torch.float64, device=instance.device),
                                   torch.arange(width, dtype=torch.float64, device=instance.device), indexing="ij")
    peak = torch.floor(centers + 0.5)                                              # the pixel nearest each centre
    squared = (rows - peak[..., 0, None, None]) ** 2 + (columns - peak[..., 1, None, None]) ** 2   # [B, K, H, W]
    blobs = torch.exp(-squared / (2 * sigma ** 2)).nan_to_num(0.0)                 # absent ids: no blob
    heatmap = blobs.amax(dim=1, keepdim=True) if blobs.shape[1] else torch.zeros(batch, 1, height, width)
    own = centers.gather(1, instance.long().flatten(1)[..., None].expand(-1, -1, 2))   # [B, HW, 2]: own centre
    offsets = own.transpose(1, 2).reshape(batch, 2, height, width) - torch.stack([rows, columns])
    return heatmap.float(), offsets.float()

"""From dense predictions to object instances, bottom-up (Panoptic-DeepLab, Cheng et al., CVPR 2020).

Three dense outputs describe the objects of a scene without any proposal or box:

    semseg   which class each pixel is                     (thing pixels are the ones to group)
    centers  a heatmap with one peak per object            (float [B, 1, H, W], higher = more surely a centre)
    offsets  for each pixel, the vector to its centre      (float [B, 2, H, W], (dy, dx) in pixels)

Grouping: the centres are the heatmap's local maxima above a threshold (a max-pool keeps a pixel only if it is
the largest in its k x k window: "non-maximum suppression" in one line); each thing pixel votes for the point
pixel + offset and joins the centre nearest to that point. Instance ids are 1, 2, ... in the order of the
centres' scores; stuff pixels get 0.

    instance = group_instances(semseg_logits.argmax(1), torch.sigmoid(center_logits), offsets)   # [B, H, W]
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mtl_course.metrics.panoptic import STUFF, is_stuff


def find_centers(heatmap: Tensor, threshold: float = 0.1, kernel: int = 5, top_k: int = 32) -> list[Tensor]:
    """The peaks of each image's centre heatmap.

    Inputs:
        heatmap: float [B, 1, H, W]  centre scores (e.g. sigmoid of a head's logits)
    Returns:
        [B] of int64 [K_b, 2]: (row, column) of the K_b <= top_k peaks above threshold, highest score first
        (equal scores in row-major order)
    """
    if heatmap.dim() != 4 or heatmap.shape[1] != 1:
        raise ValueError(f"the centre heatmap must be [B, 1, H, W], got {tuple(heatmap.shape)}")
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"the max-pool kernel must be an odd number >= 1, got {kernel}")
    pooled = F.max_pool2d(heatmap, kernel, stride=1, padding=kernel // 2)
    peaks = (heatmap == pooled) & (heatmap > threshold)
    centers = []
    for scores, keep in zip(heatmap[:, 0], peaks[:, 0]):
        where = keep.nonzero()                                   # [K, 2] (row, column)
        order = scores[keep].argsort(descending=True, stable=True)[:top_k]   # ties: row-major, as nonzero() lists them
        centers.append(where[order])
    return centers


def group_instances(semseg: Tensor, centers: Tensor, offsets: Tensor, stuff: Sequence[int] = STUFF,
                    threshold: float = 0.1, kernel: int = 5, top_k: int = 32) -> Tensor:
    """An instance map from class ids, a centre heatmap and offsets.

    Inputs:
        semseg:  int [B, H, W]         class ids (a segmentation head's logits.argmax(1))
        centers: float [B, 1, H, W]    centre heatmap (see find_centers for threshold, kernel, top_k)
        offsets: float [B, 2, H, W]    (dy, dx) from each pixel to its object's centre, in pixels
    Returns:
        int64 [B, H, W]: 0 on stuff pixels (and on thing pixels of an image without any centre), else k for the
        k-th centre (by score) that the pixel's vote lands nearest to
    """
    if semseg.dim() != 3 or semseg.is_floating_point():
        raise ValueError(f"semseg must be integer class ids [B, H, W], got {semseg.dtype} {tuple(semseg.shape)}; "
                         f"for logits [B, C, H, W] pass logits.argmax(1)")
    batch, height, width = semseg.shape
    if offsets.dim() != 4 or tuple(offsets.shape) != (batch, 2, height, width):
        raise ValueError(f"offsets must be [B, 2, H, W] = {(batch, 2, height, width)} (dy, dx per pixel), got "
                         f"{tuple(offsets.shape)}")
    if tuple(centers.shape) != (batch, 1, height, width):
        raise ValueError(f"the centre heatmap must be [B, 1, H, W] = {(batch, 1, height, width)}, got "
                         f"{tuple(centers.shape)}; grouping needs both centres and offsets")
    rows, columns = torch.meshgrid(torch.arange(height, device=offsets.device),
                                   torch.arange(width, device=offsets.device), indexing="ij")
    votes = torch.stack([rows, columns]).to(offsets.dtype) + offsets         # [B, 2, H, W]: where each pixel points
    things = ~is_stuff(semseg, stuff)
    instance = torch.zeros(batch, height, width, dtype=torch.long, device=semseg.device)
    for image, peaks in enumerate(find_centers(centers, threshold, kernel, top_k)):
        if len(peaks) == 0:
            continue
        distance = (votes[image].flatten(1).T[:, None, :] - peaks[None].to(votes.dtype)).norm(dim=2)   # [HW, K]
        nearest = distance.argmin(dim=1).view(height, width) + 1
        instance[image] = torch.where(things[image], nearest, 0)
    return instance

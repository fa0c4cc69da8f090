"""Exercise 07 — instances: a centre heatmap from an instance map, grouping pixels to centres, panoptic quality."""

from __future__ import annotations

import torch

from mtl_course.data.centers import center_targets
from mtl_course.grading.questions import close, question
from mtl_course.metrics.grouping import group_instances
from mtl_course.metrics.panoptic import panoptic_quality


def _instance_maps() -> torch.Tensor:
    """Three 7x9 instance maps [3, 7, 9] (not square: rows and columns cannot be swapped unnoticed): ids that are
    neither 1.. nor contiguous (7 and 2), a two-pixel object whose centre falls between pixels, two objects close
    enough for their Gaussians to overlap, an object on the border, and an image without any object."""
    instance = torch.zeros(3, 7, 9, dtype=torch.long)
    instance[0, 1:4, 1:4] = 7                 # a 3x3 square, centre (2, 2)
    instance[0, 0, 6:8] = 2                   # two pixels, centre (0, 6.5)
    instance[0, 5:7, 4:9] = 3                 # a bar on the bottom border, centre (5.5, 6)
    instance[1, 2:5, 0:2] = 1                 # a 3x2 block on the left border, centre (3, 0.5)
    instance[1, 2:5, 3:5] = 4                 # a second block two columns away: the Gaussians overlap
    return instance


@question("07.q1", "For each object id k > 0 of each image: its centre (cy, cx) = the mean row and column of its "
                   "pixels; its peak pixel = floor(centre + 0.5); its Gaussian exp(-((row - py)^2 + (col - px)^2) / "
                   "(2 sigma^2)). Keep each pixel's largest value over the objects (not the sum): float [B, 1, H, W].")
def center_heatmap(fn) -> tuple[bool, str]:
    instance = _instance_maps()
    for sigma in (1.5, 1.0):
        value = fn(instance.clone(), sigma)
        expected = center_targets(instance, sigma)[0]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(expected.shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            return False, f"expected a heatmap of shape {tuple(expected.shape)} ([B, 1, H, W]), got {shape}"
        ok, detail = close(value, expected, tolerance=1e-5)
        if not ok:
            if float(value.max()) > 1 + 1e-6:
                return False, (f"sigma={sigma}: values up to {float(value.max()):.2f}; where two Gaussians overlap "
                               f"keep the larger one (the maximum), not their sum")
            if int((value >= 1 - 1e-6).sum()) < int((expected >= 1 - 1e-6).sum()):
                return False, (f"sigma={sigma}: {int((value >= 1 - 1e-6).sum())} pixels at 1, expected one per "
                               f"object ({int((expected >= 1 - 1e-6).sum())}): put each peak on the pixel nearest "
                               f"the centre (floor(centre + 0.5))")
            if float(value[2].abs().max()) > 0:
                return False, "the third image has no object (only id 0, the background): its heatmap must be 0"
            return False, f"sigma={sigma}: {detail}"
    return True, "matches center_targets on three images (overlapping objects, a half-pixel centre, no object)"


def _grouping_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One 6x8 image: class ids, a heatmap with three peaks of distinct scores (plus a weak one below the
    threshold, and a neighbour of a peak that non-maximum suppression must drop), noisy offsets."""
    semseg = torch.zeros(6, 8, dtype=torch.long)
    semseg[0:3, 0:4] = 1
    semseg[0:3, 4:8] = 1                       # two touching objects of class 1
    semseg[4:6, 2:7] = 2
    heatmap = torch.zeros(6, 8)
    heatmap[1, 1], heatmap[1, 2] = 0.7, 0.6    # a peak and its weaker neighbour
    heatmap[1, 6] = 0.9
    heatmap[5, 4] = 0.5
    heatmap[3, 0] = 0.05                       # under the threshold: no centre
    rows, columns = torch.meshgrid(torch.arange(6.0), torch.arange(8.0), indexing="ij")
    target = torch.where(semseg == 2, torch.tensor(5.0), torch.tensor(1.0))
    target_x = torch.where(semseg == 2, torch.tensor(4.0), torch.where(columns < 4, torch.tensor(1.5),
                                                                         torch.tensor(6.0)))
    noise = 0.4 * torch.randn(2, 6, 8, generator=torch.Generator().manual_seed(7))
    offsets = torch.stack([target - rows, target_x - columns]) + noise
    return semseg, heatmap, offsets


@question("07.q2", "Centres: pixels equal to the k x k max-pool of the heatmap (F.max_pool2d, stride 1, padding "
                   "k // 2) and above the threshold, numbered 1, 2, ... from the highest score. Each thing pixel "
                   "(class != 0) votes for (row + dy, column + dx) and takes the number of the centre nearest its "
                   "vote; background pixels get 0.")
def group(fn) -> tuple[bool, str]:
    semseg, heatmap, offsets = _grouping_case()
    for kernel in (3, 1):
        value = fn(semseg.clone(), heatmap.clone(), offsets.clone(), 0.1, kernel)
        expected = group_instances(semseg[None], heatmap[None, None], offsets[None], threshold=0.1,
                                   kernel=kernel)[0]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(expected.shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            return False, f"expected an instance map of shape {tuple(expected.shape)} ([H, W]), got {shape}"
        value = value.long()
        if (value[semseg == 0] != 0).any():
            return False, "background pixels (class 0) belong to no instance: give them 0"
        if not torch.equal(value, expected):
            found = len(value.unique()) - (1 if (value == 0).any() else 0)
            wanted = len(expected.unique()) - 1
            if found != wanted:
                return False, (f"kernel={kernel}: {found} instances, expected {wanted}: check which pixels count as "
                               f"centres (equal to their max-pool and above the threshold)")
            return False, (f"kernel={kernel}: {int((value != expected).sum())} pixels differ: the vote is pixel + "
                           f"offset, and centre 1 is the one with the highest score")
    return True, "matches group_instances (non-maximum suppression at two kernel sizes, noisy offsets)"


def _panoptic_cases() -> list[tuple[str, tuple[torch.Tensor, ...]]]:
    """(name, (pred_semseg, pred_instance, true_semseg, true_instance)) cases that separate the usual mistakes."""
    true_semseg = torch.tensor([[[0, 1, 1, 1, 1, 0],
                                 [0, 1, 1, 1, 1, 0],
                                 [0, 0, 0, 0, 2, 2],
                                 [0, 0, 0, 0, 2, 2]]])
    true_instance = torch.tensor([[[0, 1, 1, 2, 2, 0],
                                   [0, 1, 1, 2, 2, 0],
                                   [0, 0, 0, 0, 3, 3],
                                   [0, 0, 0, 0, 3, 3]]])
    merged = torch.where(true_instance == 2, 1, true_instance)            # IoU exactly 0.5 with each: no match
    left = torch.arange(6) < 3
    stuff_ids = torch.where(true_semseg == 0, torch.where(left, 8, 9), true_instance)   # two ids on stuff: still one
    extra_class = true_semseg.clone()
    extra_class[0, 3, 0] = 3                                               # a class the truth does not have
    two_images = (torch.cat([true_semseg, true_semseg.flip(-1)]), torch.cat([merged, true_instance.flip(-1)]),
                  torch.cat([true_semseg, true_semseg.flip(-1)]), torch.cat([true_instance, true_instance.flip(-1)]))
    return [("a perfect prediction with other ids", (true_semseg, 5 - true_instance.clamp(max=4), true_semseg,
                                                      true_instance)),
            ("two touching objects merged", (true_semseg, merged, true_semseg, true_instance)),
            ("instance ids on background pixels", (true_semseg, stuff_ids, true_semseg, true_instance)),
            ("a predicted class absent from the truth", (extra_class, true_instance, true_semseg, true_instance)),
            ("two images, the first merged", two_images)]


@question("07.q3", "Per image, a segment = the pixels of one (class, instance) pair (class 0 is stuff: one segment, "
                   "whatever the ids). Same-class segments match when IoU > 0.5 (strictly). Per class over all "
                   "images: PQ_c = sum of matched IoUs / (TP + FP/2 + FN/2); return the mean over the classes that "
                   "have a segment in the prediction or the truth.")
def panoptic(fn) -> tuple[bool, str]:
    for name, maps in _panoptic_cases():
        value = fn(*[m.clone() for m in maps], 4)
        expected = panoptic_quality(*maps, num_classes=4)["pq"]
        ok, detail = close(float(value), expected, tolerance=1e-6)
        if not ok:
            return False, f"{name}: PQ {float(value):.4f}, expected {expected:.4f}"
    return True, "matches panoptic_quality on five cases (merged objects, ids on stuff, an extra class, two images)"

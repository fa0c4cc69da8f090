"""Exercise 01 — single-task baselines: metrics and losses by hand."""

from __future__ import annotations

import torch

from mtl_course.data import SyntheticScenes
from mtl_course.grading.questions import close, question
from mtl_course.metrics import segmentation_scores


def _confusions() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    cases = [torch.tensor([[1, 1], [0, 2]]), torch.tensor([[5, 0, 0], [1, 3, 0], [0, 0, 0]])]  # class 2 absent
    cases.append(torch.randint(0, 20, (6, 6), generator=gen))
    return cases


@question("01.q1", "IoU_c = TP_c / (TP_c + FP_c + FN_c): the diagonal over row sum + column sum - diagonal. "
                   "Average only over classes whose union is > 0.")
def miou_from_confusion(fn) -> tuple[bool, str]:
    for confusion in _confusions():
        ok, detail = close(float(fn(confusion.clone())), segmentation_scores(confusion)["miou"])
        if not ok:
            return False, f"for the confusion matrix {confusion.tolist()}: {detail}"
    return True, f"matches on {len(_confusions())} confusion matrices, one with an absent class"


@question("01.q2", "Select the pixels with target > 0 (a boolean mask), then average |pred - target| over "
                   "those pixels only. Keep it a tensor so that it can be back-propagated.")
def masked_l1(fn) -> tuple[bool, str]:
    gen = torch.Generator().manual_seed(2)
    target = torch.rand(2, 1, 6, 6, generator=gen) * 5
    target[target < 1.5] = 0                                         # invalid pixels
    pred = torch.rand(2, 1, 6, 6, generator=gen).mul(5).requires_grad_()
    valid = target > 0
    loss = fn(pred, target)
    if not torch.is_tensor(loss) or not loss.requires_grad:
        return False, "return a tensor computed from pred (one that requires grad), not a Python number"
    return close(loss.detach(), (pred - target).abs()[valid].mean().detach())


@question("01.q3", "Edge pixels get the fraction of NON-edge pixels as weight, non-edge pixels the fraction "
                   "of edge pixels (torch.where(target > 0.5, 1 - edge_fraction, edge_fraction)).")
def edge_pixel_weights(fn) -> tuple[bool, str]:
    target = torch.zeros(1, 1, 4, 5)
    target[..., 1, :] = 1                                            # 5 edges of 20 pixels
    expected = torch.where(target > 0.5, torch.tensor(0.75), torch.tensor(0.25))
    return close(fn(target.clone()), expected)


@question("01.q4", "Predicting background everywhere is right exactly on the background pixels: "
                   "(semseg == 0).float().mean() over the validation split.")
def background_accuracy(value) -> tuple[bool, str]:
    semseg = SyntheticScenes(n=128, size=48, split="val").tensors()["semseg"]
    return close(float(value), (semseg == 0).double().mean().item(), tolerance=1e-4)

"""Exercise 06 — beyond hard sharing: a cross-stitch unit, soft boundaries of a segmentation, the consistency loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mtl_course.grading.questions import close, question
from mtl_course.models.cross_stitch import CrossStitchUnit
from mtl_course.tasks.consistency import Consistency, soft_boundaries as library_soft_boundaries


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(6)


def _one_hot_scenes() -> torch.Tensor:
    """Two 6x7 label maps as one-hot float [2, 3, 6, 7]: a square touching the top border, a vertical split, one
    pixel island, a boundary between two object classes (not only object/background)."""
    labels = torch.zeros(2, 6, 7, dtype=torch.long)
    labels[0, 0:3, 1:4] = 1               # touches the top border
    labels[0, 4, 5] = 2                   # one pixel island
    labels[1, :, 4:] = 2                  # a vertical split reaching both borders
    labels[1, 2:4, 2:4] = 1               # class 1 next to class 2
    return F.one_hot(labels, 3).permute(0, 3, 1, 2).double()


@question("06.q1", "out[t] = sum over s of alpha[t, s] * maps[s]: row t of alpha says how task t mixes the "
                   "tasks' maps (rows read, columns are read). Return a list, one map per task.")
def cross_stitch(fn) -> tuple[bool, str]:
    generator = _generator()
    for tasks in (2, 3):
        maps = [torch.randn(2, 4, 5, 5, generator=generator, dtype=torch.float64) for _ in range(tasks)]
        alpha = torch.rand(tasks, tasks, generator=generator, dtype=torch.float64)     # not symmetric
        unit = CrossStitchUnit(tasks).double()
        with torch.no_grad():
            unit.alpha.copy_(alpha)
        mixed = fn([m.clone() for m in maps], alpha.clone())
        if not isinstance(mixed, (list, tuple)) or len(mixed) != tasks:
            return False, f"return a list of {tasks} maps for {tasks} tasks, got {type(mixed).__name__}"
        for t, (mine, theirs) in enumerate(zip(mixed, unit(maps))):
            ok, detail = close(mine, theirs.detach())
            if not ok:
                transposed = sum(alpha[s, t] * maps[s] for s in range(tasks))
                if close(mine, transposed)[0]:
                    return False, (f"task {t}'s map mixes with column {t} of alpha; it should use row {t} "
                                   f"(alpha[t, s] = how much task t reads of task s)")
                return False, f"{tasks} tasks, task {t}: {detail}"
    return True, "matches CrossStitchUnit for 2 and 3 tasks with an asymmetric alpha"


@question("06.q2", "For each pair of 4-neighbours: d = 0.5 * sum over classes of |p(x) - p(y)|. Give d to both "
                   "pixels of the pair (pad the missing row/column with 0 on each side) and keep each pixel's "
                   "largest d: float [B, 1, H, W].")
def soft_boundaries(fn) -> tuple[bool, str]:
    one_hot = _one_hot_scenes()
    soft = torch.softmax(3 * torch.randn(3, 4, 5, 6, generator=_generator(), dtype=torch.float64), dim=1)
    for name, probabilities in (("two one-hot label maps", one_hot), ("three soft segmentations", soft)):
        value = fn(probabilities.clone())
        expected = library_soft_boundaries(probabilities)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(expected.shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            return False, f"{name}: expected shape {tuple(expected.shape)} (one channel), got {shape}"
        ok, detail = close(value, expected)
        if not ok:
            if float(value.max()) > 1 + 1e-9:
                return False, f"{name}: values up to {float(value.max()):.2f}; a distance between distributions " \
                              f"is at most 1 (the factor 0.5)"
            if name.startswith("two") and int((value > 0.5).sum()) < int((expected > 0.5).sum()):
                return False, (f"{name}: {int((value > 0.5).sum())} boundary pixels, expected "
                               f"{int((expected > 0.5).sum())}: both pixels of a pair lie on the boundary")
            return False, f"{name}: {detail}"
    return True, "matches on one-hot maps (the data's edge rule) and on soft segmentations"


@question("06.q3", "weight * mean over pixels of (sigmoid(edge_logits) - soft_boundaries(softmax(semseg_logits, "
                   "dim=1)))**2, kept connected to both inputs (no detach, no .item()).")
def consistency_loss(fn) -> tuple[bool, str]:
    generator = _generator()
    for weight in (1.0, 0.3):
        edges = torch.randn(2, 1, 6, 7, generator=generator, dtype=torch.float64, requires_grad=True)
        semseg = torch.randn(2, 3, 6, 7, generator=generator, dtype=torch.float64, requires_grad=True)
        value = fn(edges, semseg, weight)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            return False, "return a scalar tensor (so that it can be added to the loss and backpropagated)"
        if not value.requires_grad:
            return False, "the loss must stay connected to both predictions (requires_grad): do not detach it"
        expected = Consistency(weight=weight).loss(edges, semseg)
        ok, detail = close(value.detach(), expected.detach(), tolerance=1e-6)
        if not ok:
            return False, f"weight={weight}: {detail}"
        edge_grad, semseg_grad = torch.autograd.grad(value, (edges, semseg), allow_unused=True)
        if edge_grad is None or semseg_grad is None or not edge_grad.abs().sum() or not semseg_grad.abs().sum():
            return False, "its gradient must reach both the edge logits and the segmentation logits"
    # agreeing predictions: edges exactly where the (sure) segmentation changes class -> (close to) zero
    labels = _one_hot_scenes().argmax(1)
    semseg = 30.0 * F.one_hot(labels, 3).permute(0, 3, 1, 2).double()
    boundaries = library_soft_boundaries(torch.softmax(semseg, dim=1))
    edges = torch.where(boundaries > 0.5, 30.0, -30.0)
    agreeing = float(fn(edges, semseg, 1.0))
    if agreeing > 1e-6:
        return False, f"predictions that agree (edges on the segmentation's boundaries) give {agreeing:.3g}, not 0"
    return True, "matches the library for two weights, zero when the predictions agree, gradients reach both"

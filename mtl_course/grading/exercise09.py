"""Exercise 09 — smaller networks: the distillation loss, magnitude pruning by hand, a pruned model's non-zero weights."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune

from mtl_course.compress import convolutions, distillation_loss, prune_model
from mtl_course.grading.questions import close, question


def _outputs(seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{form: (student, teacher)} raw outputs of two images, not square (2x3): semseg logits with 4 classes,
    edge logits and depths with one channel; the teacher's logits are sharper than the student's."""
    g = torch.Generator().manual_seed(seed)
    return {"softmax": (torch.randn(2, 4, 2, 3, generator=g), 3 * torch.randn(2, 4, 2, 3, generator=g)),
            "sigmoid": (torch.randn(2, 1, 2, 3, generator=g), 3 * torch.randn(2, 1, 2, 3, generator=g)),
            "l1": (torch.randn(2, 1, 2, 3, generator=g) + 5, torch.randn(2, 1, 2, 3, generator=g) + 5)}


@question("09.q1", "softmax: T^2 * KL(softmax(teacher / T) || softmax(student / T)), summed over the classes (dim 1) "
                   "and averaged over images and pixels; sigmoid: binary cross-entropy of the student's logits "
                   "against sigmoid(teacher) (F.binary_cross_entropy_with_logits); l1: mean |student - teacher|. "
                   "Keep the student's graph (no .detach() or .item() on it).")
def distillation(fn) -> tuple[bool, str]:
    for form, (student, teacher) in _outputs(0).items():
        for temperature in ((1.0, 2.0, 4.0) if form == "softmax" else (2.0,)):
            student_grad = student.clone().requires_grad_(True)
            value = fn(student_grad, teacher.clone(), form, temperature)
            if not isinstance(value, torch.Tensor) or value.dim() != 0:
                return False, f"{form}: return the loss as a scalar tensor, got {type(value).__name__}"
            if value.grad_fn is None:
                return False, f"{form}: the loss has no gradient: keep the student's graph (no .detach(), no .item())"
            expected = distillation_loss(student, teacher, form, temperature)
            value = value.detach()
            ok, detail = close(value, expected, tolerance=1e-5)
            if ok:
                continue
            if form == "softmax":
                without_t2 = expected / temperature ** 2
                if close(value, without_t2, tolerance=1e-5)[0] and temperature != 1:
                    return False, f"T={temperature}: {float(value):.4f} = the expected loss / T^2: multiply by T^2"
                reverse = temperature ** 2 * torch.nn.functional.kl_div(
                    (teacher / temperature).log_softmax(1), (student / temperature).log_softmax(1),
                    log_target=True, reduction="none").sum(1).mean()
                if close(value, reverse, tolerance=1e-5)[0]:
                    return False, (f"T={temperature}: this is KL(student || teacher); distillation uses "
                                   f"KL(teacher || student) = sum of p_teacher * (log p_teacher - log p_student)")
            return False, f"{form}, T={temperature}: {float(value):.5f}, expected {float(expected):.5f} ({detail})"
    return True, "matches mtl_course.compress.distillation_loss for the three forms and three temperatures"


def _weights() -> torch.Tensor:
    """A 4x3x3x3 convolution weight (108 values), distinct magnitudes, half of them negative."""
    g = torch.Generator().manual_seed(9)
    magnitudes = torch.randperm(108, generator=g).float() / 10 + 0.05
    signs = torch.where(torch.rand(108, generator=g) < 0.5, -1.0, 1.0)
    return (magnitudes * signs).view(4, 3, 3, 3)


@question("09.q2", "Zero the round(amount * n) weights of smallest absolute value (n = weight.numel(); the sign does "
                   "not count), keep the others as they are, and return a new tensor of the same shape: torch's "
                   "prune.l1_unstructured does exactly this.")
def prune_by_hand(fn) -> tuple[bool, str]:
    weight = _weights()
    for amount in (0.35, 0.5, 0.0):
        original = weight.clone()
        value = fn(original, amount)
        if not torch.equal(original, weight):
            return False, "return a new tensor and leave the weight you were given unchanged (clone it first)"
        conv = nn.Conv2d(3, 4, 3, bias=False)
        with torch.no_grad():
            conv.weight.copy_(weight)
        prune.l1_unstructured(conv, "weight", amount=amount)
        expected = conv.weight.detach()
        if not isinstance(value, torch.Tensor) or value.shape != weight.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            return False, f"expected a tensor of shape {tuple(weight.shape)}, got {shape}"
        zeros, wanted = int((value == 0).sum()), int((expected == 0).sum())
        if zeros != wanted:
            return False, (f"amount={amount}: {zeros} zeros, expected round({amount} * {weight.numel()}) = {wanted}"
                           f"{' (round, not int)' if zeros == int(amount * weight.numel()) else ''}")
        if not torch.equal(value, expected):
            kept = value[value != 0]
            if (kept.abs() < expected[expected != 0].abs().min()).any():
                return False, (f"amount={amount}: small weights survived while larger ones became 0: zero the "
                               f"weights of smallest |w| (the sign does not count)")
            return False, f"amount={amount}: the weights you kept changed value: keep them exactly as they were"
    return True, "matches torch.nn.utils.prune.l1_unstructured at three amounts (negative weights included)"


def _pruned_models() -> list[tuple[str, nn.Module]]:
    """A small network pruned permanently, and one whose pruning is still attached (weight_orig + mask)."""
    def small() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))

    permanent = prune_model(small(), 0.5)
    attached = small()
    for conv in convolutions(attached):
        prune.l1_unstructured(conv, "weight", amount=0.75)              # no prune.remove: weight = weight_orig * mask
    return [("a model pruned with prune_model(model, 0.5)", permanent),
            ("a model whose pruning is still attached (weight_orig and weight_mask, amount 0.75)", attached)]


@question("09.q3", "Sum, over the model's nn.Conv2d layers, the non-zero values of conv.weight (the weight the layer "
                   "computes with: while pruning is attached it is weight_orig * weight_mask). Biases and batch-norm "
                   "parameters are not counted.")
def nonzero_weights(fn) -> tuple[bool, str]:
    for name, model in _pruned_models():
        before = copy.deepcopy(model.state_dict())
        value = fn(model)
        expected = sum(int((conv.weight != 0).sum()) for conv in convolutions(model))
        if any(not torch.equal(before[k], v) for k, v in model.state_dict().items()):
            return False, f"{name}: counting must not change the model"
        if isinstance(value, torch.Tensor):
            value = value.item() if value.numel() == 1 else value
        if not isinstance(value, int) and not (isinstance(value, float) and value.is_integer()):
            return False, f"{name}: return a whole number of weights, got {value!r}"
        if int(value) != expected:
            total = sum(conv.weight.numel() for conv in convolutions(model))
            if int(value) == total - expected:
                return False, f"{name}: {int(value)} is the number of zeros; count the non-zero weights"
            if int(value) > total:
                return False, (f"{name}: {int(value)} is more than the convolutions' {total} weights: count only "
                               f"conv.weight (not biases, batch norm, or weight_orig)")
            return False, f"{name}: {int(value)} non-zero weights, expected {expected}"
    return True, "counts what the convolutions compute with, pruning removed or still attached"

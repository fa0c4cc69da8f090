"""Exercise 05 — transfer: freeze the encoder and count, a 10x head learning rate, the L2-SP penalty."""

from __future__ import annotations

import torch
from torch import nn

from mtl_course.device import seed_everything
from mtl_course.grading.questions import close, question
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.transfer import L2SP


def _model(encoder: str = "unet") -> nn.Module:
    seed_everything(5)
    return build_model([get_task("semseg", num_classes=6), get_task("depth")], encoder=encoder)


@question("05.q1", "freeze(model, *encoder_stages(model)) (or set requires_grad=False on model.trunk.encoder's "
                   "parameters), then sum p.numel() over the parameters that still require grad.")
def feature_extraction(fn) -> tuple[bool, str]:
    for encoder in ("unet", "resnet18"):
        model = _model(encoder)
        count = fn(model)
        moving = [n for n, p in model.trunk.encoder.named_parameters() if p.requires_grad]
        if moving:
            return False, f"{len(moving)} encoder parameter tensors still train (e.g. {moving[0]}) for {encoder}"
        stuck = [n for n, p in model.named_parameters() if not n.startswith("trunk.encoder.") and not p.requires_grad]
        if stuck:
            return False, f"only the encoder should be frozen, but {stuck[0]} is frozen too"
        expected = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("trunk.encoder."))
        if count != expected:
            return False, f"{encoder}: you returned {count}, but {expected} parameters still train"
    return True, "the encoder is frozen and the count is right, for both encoders"


@question("05.q2", "Two groups: {'params': the heads' parameters, 'lr': 10 * lr} and {'params': every other "
                   "parameter with requires_grad, 'lr': lr}.")
def head_groups(fn) -> tuple[bool, str]:
    model = _model()
    for p in model.trunk.encoder.stages[0].parameters():
        p.requires_grad_(False)
    groups = fn(model, 1e-3)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "params" in g for g in groups):
        return False, "return a list of dicts, each with 'params' (and 'lr')"
    seen: dict[int, float] = {}
    for group in groups:
        for p in group["params"]:
            if id(p) in seen:
                return False, "a parameter appears in two groups"
            seen[id(p)] = group.get("lr", 1e-3)
    heads = {id(p) for p in model.heads.parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if set(seen) != trainable:
        extra = len(set(seen) - trainable)
        return False, (f"{extra} frozen parameter(s) are in the groups" if extra else
                       f"{len(trainable - set(seen))} trainable parameter(s) are in no group")
    wrong = [i for i, lr in seen.items() if abs(lr - (1e-2 if i in heads else 1e-3)) > 1e-12]
    if wrong:
        return False, "the heads need lr = 10 * lr = 0.01 and everything else lr = 0.001"
    return True, "heads at 10x, the rest at lr, frozen parameters left out"


@question("05.q3", "alpha/2 * sum over names in reference of ((p - reference[name])**2).sum() + beta/2 * sum over "
                   "the other trainable parameters of (p**2).sum()")
def l2sp_penalty(fn) -> tuple[bool, str]:
    model = _model()
    reference = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("trunk.encoder.")}
    model.pretrained_state = reference
    with torch.no_grad():
        for p in model.trunk.encoder.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    for p in model.heads["depth"].parameters():
        p.requires_grad_(False)                                   # frozen: in neither sum
    for alpha, beta in ((0.1, 0.0), (0.0, 1e-3), (0.5, 1e-2)):
        value = fn(model, reference, alpha, beta)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            return False, "return a scalar tensor (so that it can be added to the loss and backpropagated)"
        if not value.requires_grad:
            return False, "the penalty must stay connected to the parameters (requires_grad), do not detach it"
        ok, detail = close(value.detach(), L2SP(model, alpha, beta)(model).detach(), tolerance=1e-4)
        if not ok:
            return False, f"alpha={alpha}, beta={beta}: {detail}"
    return True, "matches L2-SP for three (alpha, beta), frozen parameters excluded"

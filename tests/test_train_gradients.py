"""fit with per-task gradients: the two gradient levels, gradient-based strategies, conflict tracking."""

from __future__ import annotations

import contextlib
import sys

import pytest
import torch

import mtl_course as mc
from mtl_course.models import build_model, trunk
from mtl_course.tasks import get_task
from mtl_course.tasks import semseg
from mtl_course.weighting import base
from mtl_course.train import fit
from mtl_course.train import gradient_step, pairwise_cosines, plain_step, task_gradients
from mtl_course.train.finite import FiniteCheck
from mtl_course.weighting import WEIGHTINGS, GradientWeighting, get_weighting


class PlainSum(GradientWeighting):
    """alpha = 1 for every task: must reproduce the ordinary backward of the summed losses exactly."""

    name = "plain-sum"

    def gram_weights(self, gram, losses):
        return torch.ones(gram.shape[0], dtype=gram.dtype)


def three_tasks():
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges"), get_task("labels", num_classes=6)]


def gradients_after(model, tasks, batch, level=None, strategy=None):
    """The gradients one step leaves in the parameters (an optimiser with lr=0: the weights stay put)."""
    six = {k: v[:6] for k, v in batch.items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    strategy = strategy or get_weighting("equal")
    strategy.setup([t.name for t in tasks])
    if level is None:
        plain_step(model, tasks, six, strategy, optimizer)
    else:
        gradient_step(model, tasks, six, strategy, optimizer, level)
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("branch", ["head", "decoder"])
@pytest.mark.parametrize("level", ["params", "features"])
def test_weights_of_one_reproduce_the_plain_backward(batch, level, branch):
    tasks = three_tasks()
    mc.seed_everything(0)
    model = build_model(tasks, branch=branch)
    plain = gradients_after(model, tasks, batch)
    combined = gradients_after(model, tasks, batch, level, PlainSum())
    assert plain.keys() == combined.keys()
    for name in plain:
        assert torch.allclose(plain[name], combined[name], rtol=1e-4, atol=1e-6), name


@pytest.mark.parametrize("level", ["params", "features"])
def test_batched_task_gradients_equal_one_backward_per_task(batch, level):
    """batched=True (one vmapped backward, the default on a GPU) gives the loop's G and head gradients."""
    tasks = three_tasks()
    mc.seed_everything(0)
    model = build_model(tasks, branch="decoder" if level == "params" else "head")
    results = {}
    for batched in (False, True):
        shared = model.trunk(batch["image"][:6])
        read = shared.detached() if level == "features" else shared
        outputs = {name: head(read) for name, head in model.heads.items()}
        losses = torch.stack([t.loss(outputs[t.name], batch[t.target][:6]) for t in tasks])
        wrt = read.tensors() if level == "features" else model.shared_parameters()
        results[batched] = task_gradients(losses, wrt, model.task_parameters(), batched=batched)
    (G, used, own), (G_b, used_b, own_b) = results[False], results[True]
    assert used == used_b and G.shape == G_b.shape and G.shape[0] == 4
    assert ((G - G_b).norm(dim=1) / G.norm(dim=1)).max() < 1e-5        # float32 rounding (measured: <= 6e-7)
    for t in range(4):
        for loop, vmapped in zip(own[t], own_b[t]):
            if loop is None:                       # batched: zeros where this task does not reach the parameter
                assert vmapped is None or not vmapped.any()
            else:
                assert (loop - vmapped).norm() <= 1e-5 * loop.norm()


def test_task_gradients_are_each_tasks_own_gradient(batch):
    tasks = three_tasks()[:2]
    mc.seed_everything(0)
    model = build_model(tasks)
    outputs = model(batch["image"][:4])
    losses = torch.stack([t.loss(outputs[t.name], batch[t.target][:4]) for t in tasks])
    grads, used, own = task_gradients(losses, model.shared_parameters(), model.task_parameters())
    assert grads.shape == (2, sum(p.numel() for p in model.shared_parameters()))
    assert used == list(range(len(model.shared_parameters())))
    semseg_head = {id(p) for p in model.heads["semseg"].parameters()}
    depth_on_semseg_head = [g for p, g in zip(model.task_parameters(), own[1]) if id(p) in semseg_head]
    assert len(depth_on_semseg_head) == 4 and all(float(g.abs().max()) == 0 for g in depth_on_semseg_head)
    model.zero_grad()
    losses[1].backward()
    depth_only = torch.cat([p.grad.reshape(-1) for p in model.shared_parameters()])
    assert torch.allclose(grads[1], depth_only)


def test_pairwise_cosines_by_hand():
    grads = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    assert torch.allclose(pairwise_cosines(grads), torch.tensor([[1.0, 0, -1], [0, 1, 0], [-1, 0, 1]]))


def test_fit_records_weights_and_gradient_cosines(scenes):
    tasks = three_tasks()[:3]
    mc.seed_everything(0)
    model = build_model(tasks)
    history = fit(model, tasks, scenes, epochs=2, batch_size=8, weighting="mgda", progress=False, device="cpu")
    assert set(history.grad_cosine) == {"semseg/depth", "semseg/edges", "depth/edges"}
    assert all(len(v) == 2 and all(-1 <= c <= 1 for c in v) for v in history.grad_cosine.values())
    total = [sum(history.weights[t.name][e] for t in tasks) for e in range(2)]
    assert total == [pytest.approx(3, rel=1e-4)] * 2           # MGDA's weights sum to T (sum convention)
    assert history.steps_per_epoch == 3 and 0 < history.seconds_per_step < history.seconds


def test_tracking_conflict_does_not_change_training(scenes):
    tasks = three_tasks()[:3]
    runs = []
    for track in (False, True):
        mc.seed_everything(0)
        model = build_model(tasks)
        runs.append(fit(model, tasks, scenes, epochs=2, batch_size=8, progress=False, device="cpu",
                        track_conflict=track, grad_level="features"))
    assert runs[0].grad_cosine == {} and len(runs[1].grad_cosine) == 3
    for name in runs[0].train_loss:
        assert runs[1].train_loss[name] == pytest.approx(runs[0].train_loss[name], rel=2e-3)  # float order only


def test_uncertainty_weights_are_learned_by_the_optimiser(scenes):
    tasks = three_tasks()[1:3]
    mc.seed_everything(0)
    model = build_model(tasks)
    history = fit(model, tasks, scenes, epochs=3, batch_size=8, lr=1e-2, weighting="uncertainty",
                  progress=False, device="cpu")
    assert history.weights["depth"][0] < 1 and history.weights["depth"][-1] < history.weights["depth"][0]


def test_gradient_methods_need_shared_parameters(scenes):
    tasks = three_tasks()[1:3]
    model = build_model(tasks, sharing="none")
    with pytest.raises(ValueError, match="shares no trainable parameters.*sharing='hard'"):
        fit(model, tasks, scenes, epochs=1, weighting="pcgrad", progress=False, device="cpu")
    with pytest.raises(ValueError, match="unknown grad_level 'layer'; valid values are"):
        fit(build_model(tasks), tasks, scenes, epochs=1, weighting="pcgrad", grad_level="layer", progress=False)


def test_flatten_follows_the_layout_of_the_reference_tensor():
    from mtl_course.train.gradients import flatten, unflatten
    like = torch.arange(24.0).view(1, 2, 3, 4).contiguous(memory_format=torch.channels_last)
    for t in (like, like.contiguous()):                     # same values, either layout
        flat = flatten(t, like)
        assert torch.equal(unflatten(flat, like), like)
        assert unflatten(flat, like).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(flatten(like, like), torch.arange(24.0).view(1, 2, 3, 4).permute(0, 2, 3, 1).reshape(-1))


def test_tracking_conflict_every_k_steps(scenes):
    tasks = three_tasks()[1:3]
    mc.seed_everything(0)
    history = fit(build_model(tasks), tasks, scenes, epochs=2, batch_size=4, progress=False, device="cpu",
                  track_conflict=4)                     # 6 steps per epoch: steps 1 and 5 are tracked
    assert len(history.grad_cosine["depth/edges"]) == 2
    with pytest.raises(ValueError, match="positive step interval"):
        fit(build_model(tasks), tasks, scenes, epochs=1, progress=False, device="cpu", track_conflict=-1)


@contextlib.contextmanager
def no_host_reads():
    """Fail on any Python-level read of a tensor's value: on a GPU each is a host sync (the CPU waits for the
    GPU). Checked on the CPU, where it is visible as a call; what torch does in C++ is left to the GPU run
    (tests/test_gpu.py, sync debug mode)."""
    names = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__")
    saved = {name: getattr(torch.Tensor, name) for name in names}

    def refuse(name):
        def method(self, *args, **kwargs):
            caller = sys._getframe(1).f_code
            if caller.co_name == "_get_value" or (name == "tolist" and caller.co_filename.endswith("pcgrad.py")):
                return saved[name](self, *args, **kwargs)   # host tensors: torch.optim's step count, PCGrad's order
            raise AssertionError(f"Tensor.{name} read a value back to the host in the training step")
        return method

    try:
        for name in names:
            setattr(torch.Tensor, name, refuse(name))
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_no_step_reads_a_value_back_to_the_host(batch, name, monkeypatch):
    """With a fused optimiser (fit's default on a GPU) neither step reads a tensor back: the NaN check stays on the
    device, the solvers have no branches on values, the weights stay where the losses are."""
    for module in (trunk, semseg, base):               # as on a GPU: the per-step value checks that run where
        monkeypatch.setattr(module, "reads_are_free", lambda t: False)   # reading is free (the CPU) are off
    tasks = three_tasks()
    six = {k: v[:6] for k, v in batch.items()}
    mc.seed_everything(0)
    model = build_model(tasks)
    strategy = get_weighting(name, **({"weights": {t.name: 1.0 for t in tasks}} if name == "fixed" else {}))
    strategy.setup([t.name for t in tasks])
    optimizer = torch.optim.AdamW([*model.parameters(), *strategy.parameters()], lr=1e-3, fused=True)
    check = FiniteCheck([t.name for t in tasks], optimizer)
    strategy.epoch_end(torch.ones(4)), strategy.epoch_end(torch.full((4,), 0.5))    # DWA: past its first epochs
    for level in ("params", "features"):
        with no_host_reads():
            if strategy.needs_grads:
                gradient_step(model, tasks, six, strategy, optimizer, level, check=check)
            else:
                plain_step(model, tasks, six, strategy, optimizer, check=check)
                gradient_step(model, tasks, six, strategy, optimizer, level, check=check)   # track_conflict's step
    check.raise_if_bad()
    assert check.calls == 4 if not strategy.needs_grads else check.calls == 2

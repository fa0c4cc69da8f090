"""What only a CUDA GPU can check (skipped elsewhere): no host sync in the training step, the NaN check on the
device, batched task gradients, torch.compile. Run on a GPU machine: python -m pytest tests/test_gpu.py."""

from __future__ import annotations

import time

import pytest
import torch

import mtl_course as mc
from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import fit, gradient_step, plain_step, task_gradients
from mtl_course.train.finite import FiniteCheck
from mtl_course.weighting import WEIGHTINGS, get_weighting
from test_train import NaNAfter                 # tests/ is on the path (pytest's prepend import mode)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SYNCS = {"aligned"}          # torch.linalg.eigh reads an error flag back to the host (no eigh_ex in torch)


def tasks():
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges")]


def every_task():
    """Every task the lessons train: each loss must be free of host syncs."""
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges"), get_task("normals"),
            get_task("centers"), get_task("offsets"), get_task("labels", num_classes=6)]


@pytest.fixture(scope="module")
def batch():
    data = SyntheticScenes(n=16, size=64, seed=3, split="train", cache=False).tensors()
    return {k: v.cuda() for k, v in data.items()}


@pytest.mark.parametrize("level", ["params", "features"])
@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_the_step_does_not_sync_with_the_host(batch, name, level):
    """torch.cuda.set_sync_debug_mode("error") raises on any synchronising call (item, bool, blocking copies...)."""
    task_list = every_task()
    mc.seed_everything(0)
    model = build_model(task_list).cuda().to(memory_format=torch.channels_last)
    strategy = get_weighting(name, **({"weights": {t.name: 1.0 for t in task_list}} if name == "fixed" else {}))
    strategy.setup([t.name for t in task_list], torch.device("cuda"))
    optimizer = torch.optim.AdamW([*model.parameters(), *strategy.parameters()], lr=1e-3, fused=True)
    check = FiniteCheck([t.name for t in task_list], optimizer)
    step = (lambda: gradient_step(model, task_list, batch, strategy, optimizer, level, check=check)) \
        if strategy.needs_grads else (lambda: plain_step(model, task_list, batch, strategy, optimizer, check=check))
    step()                                       # warm-up: lazy initialisation (cuBLAS handles, caches) may sync
    torch.cuda.synchronize()
    if name in SYNCS:
        pytest.xfail("torch.linalg.eigh checks its result on the host")
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    check.raise_if_bad()


def test_steps_are_queued_without_waiting_for_the_gpu(batch):
    """A stronger check than the debug mode (which may miss syncs inside cuSOLVER or MAGMA): with a long kernel
    queued first, 8 steps must be queued long before that kernel ends."""
    task_list = every_task()
    mc.seed_everything(0)
    model = build_model(task_list).cuda().to(memory_format=torch.channels_last)
    strategy = get_weighting("mgda")
    strategy.setup([t.name for t in task_list], torch.device("cuda"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    check = FiniteCheck([t.name for t in task_list], optimizer)
    for _ in range(2):
        gradient_step(model, task_list, batch, strategy, optimizer, "features", check=check)     # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    torch.cuda._sleep(int(3e9))                          # ~1-2 s of GPU clock cycles
    for _ in range(8):
        gradient_step(model, task_list, batch, strategy, optimizer, "features", check=check)
    queued = time.perf_counter() - start
    torch.cuda.synchronize()
    total = time.perf_counter() - start
    assert queued < 0.5 * total, f"the host waited: {queued:.2f} s to queue, {total:.2f} s in all"


def test_a_nan_on_the_gpu_skips_the_update_and_is_reported_at_the_epochs_end():
    data = SyntheticScenes(n=32, size=32, seed=3, split="train", cache=False).tensors()
    mc.seed_everything(0)
    model = build_model(tasks())
    model.heads["depth"] = NaNAfter(model.heads["depth"], after=2)
    with pytest.raises(FloatingPointError, match=r"at epoch 1, step 2 \(lr=0.001\): the depth loss became nan; the "
                                                 r"fused optimiser skipped that update and the 2 after it"):
        fit(model, tasks(), data, epochs=1, batch_size=8, device="cuda", progress=False)


def test_batched_gradients_equal_the_loop_on_the_gpu(batch):
    task_list = tasks()
    mc.seed_everything(0)
    model = build_model(task_list).cuda()
    results = []
    for batched in (False, True):
        outputs = model(batch["image"])
        losses = torch.stack([t.loss(outputs[t.name], batch[t.target]) for t in task_list])
        results.append(task_gradients(losses, model.shared_parameters(), batched=batched)[0])
    assert ((results[0] - results[1]).norm(dim=1) / results[0].norm(dim=1)).max() < 1e-4


def test_fit_compiled_trains_like_eager_on_the_gpu():
    data = SyntheticScenes(n=64, size=64, seed=3, split="train", cache=False).tensors()
    losses = []
    for compiled in (False, True):
        mc.seed_everything(0)
        history = fit(build_model(tasks()), tasks(), data, epochs=2, batch_size=16, device="cuda", progress=False,
                      compile=compiled)
        losses.append([history.train_loss[t.name][-1] for t in tasks()])
    assert losses[1] == pytest.approx(losses[0], rel=0.05)          # bf16: close, not identical

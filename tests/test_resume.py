"""The DataLoader path gives the in-memory path's results; a run stopped after an epoch resumes to the same weights."""

from __future__ import annotations

import pytest
import torch

from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import evaluate, fit
from mtl_course.train import batches as batches_module
from mtl_course.train import loop as loop_module
from mtl_course.train.batches import epoch_order


class Streamed(torch.utils.data.Dataset):
    """SyntheticScenes without .tensors(), marked not stackable: fit must read it sample by sample."""

    stackable = False

    def __init__(self, scenes: SyntheticScenes) -> None:
        self.scenes = scenes

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> dict:
        return self.scenes[index]


@pytest.fixture(scope="module")
def data() -> tuple[SyntheticScenes, SyntheticScenes]:
    return (SyntheticScenes(n=40, size=32, seed=5, split="train", cache=False),
            SyntheticScenes(n=20, size=32, seed=5, split="val", cache=False))


def tasks() -> list:
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges")]


def weights_of(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_path_equals_the_in_memory_path(data, workers):
    train, val = data
    stacked = build_model(tasks(), seed=1)
    expected = fit(stacked, tasks(), train, val, epochs=2, batch_size=8, seed=3, progress=False)
    streamed = build_model(tasks(), seed=1)
    history = fit(streamed, tasks(), Streamed(train), Streamed(val), epochs=2, batch_size=8, seed=3, progress=False,
                  workers=workers)
    assert history.train_loss == expected.train_loss               # same batches, in the same order
    assert history.val_metrics == expected.val_metrics
    for (name, a), b in zip(weights_of(stacked).items(), weights_of(streamed).values()):
        assert torch.equal(a, b), name
    assert evaluate(streamed, tasks(), Streamed(val), batch_size=7, workers=workers) == \
        evaluate(streamed, tasks(), val, batch_size=7)


def test_too_big_to_stack_is_streamed(data, monkeypatch):
    train, _ = data
    reads = []
    monkeypatch.setattr(batches_module, "MAX_RESIDENT_BYTES", 0)
    plain = build_model(tasks(), seed=1)

    class Counting(Streamed):
        stackable = True

        def __getitem__(self, index):
            reads.append(index)
            return super().__getitem__(index)

    fit(plain, tasks(), Counting(train), epochs=2, batch_size=8, progress=False)
    assert len(reads) == 2 + 2 * 40              # the first twice (its type, its targets), then every sample each epoch


def test_epoch_order_splits_global_batches_between_processes():
    generator = torch.Generator().manual_seed(0)
    single = epoch_order(23, True, generator.manual_seed(4), 6, drop_last=True)
    shards = [epoch_order(23, True, generator.manual_seed(4), 3, drop_last=True, rank=r, world=2) for r in (0, 1)]
    assert len(single) == 18 and all(len(s) == 9 for s in shards)
    for k in range(3):                                             # global batch k = the single run's batch k
        together = torch.cat([shards[0][3 * k:3 * k + 3], shards[1][3 * k:3 * k + 3]])
        assert torch.equal(together, single[6 * k:6 * k + 6])
    evaluation = [epoch_order(23, False, None, 4, drop_last=False, rank=r, world=3) for r in range(3)]
    assert sorted(torch.cat(evaluation).tolist()) == list(range(23))   # every sample once, none twice


class Stop(Exception):
    pass


@pytest.mark.parametrize("weighting, schedule", [("dwa", "cosine"), ("uncertainty", None), ("rlw", None)])
def test_a_run_stopped_after_an_epoch_resumes_to_the_same_weights(data, tmp_path, monkeypatch, weighting, schedule):
    train, val = data
    options = dict(epochs=3, batch_size=8, seed=2, weighting=weighting, schedule=schedule, progress=False)
    whole = build_model(tasks(), seed=1)
    expected = fit(whole, tasks(), train, val, checkpoint=tmp_path / "whole.pt", **options)

    save = loop_module.save_training_state

    def save_then_die(path, state):                                # killed right after epoch 1's checkpoint
        save(path, state)
        raise Stop

    monkeypatch.setattr(loop_module, "save_training_state", save_then_die)
    with pytest.raises(Stop):
        fit(build_model(tasks(), seed=1), tasks(), train, val, checkpoint=tmp_path / "run.pt", **options)
    monkeypatch.setattr(loop_module, "save_training_state", save)
    resumed = build_model(tasks(), seed=9)                         # other initial weights: all come from the file
    history = fit(resumed, tasks(), train, val, checkpoint=tmp_path / "run.pt", **options)
    assert history.epochs == [1, 2, 3] and history.train_loss == expected.train_loss
    assert history.weights == expected.weights
    for (name, a), b in zip(weights_of(whole).items(), weights_of(resumed).values()):
        assert torch.equal(a, b), name
    done = fit(resumed, tasks(), train, val, checkpoint=tmp_path / "run.pt", **options)   # nothing left to do
    assert done.epochs == [1, 2, 3]
    with pytest.raises(ValueError, match="holds another model"):
        fit(build_model([get_task("depth")], seed=0), [get_task("depth")], train, checkpoint=tmp_path / "run.pt",
            epochs=4, progress=False)


def test_every_weighting_strategy_saves_and_restores_its_state():
    import io

    from mtl_course.train.resume import load_weighting_state, weighting_state
    from mtl_course.weighting import WEIGHTINGS, get_weighting

    names = ["semseg", "depth", "edges"]
    for name in WEIGHTINGS:
        make = (lambda: get_weighting({"semseg": 1.0, "depth": 0.5, "edges": 2.0})) if name == "fixed" else \
            (lambda: get_weighting(name))
        used, fresh = make(), make()
        used.setup(names)
        fresh.setup(names)
        generator = torch.Generator().manual_seed(0)
        for _ in range(3):                                   # change whatever the strategy keeps
            losses = torch.rand(3, generator=generator) + 0.1
            grads = torch.randn(3, 50, generator=generator)
            if used.needs_grads:
                used.combine(grads, losses) if hasattr(used, "gram_weights") else used.weights(losses, grads)
            else:
                used(losses)
            used.epoch_end(losses)
        buffer = io.BytesIO()
        torch.save(weighting_state(used), buffer)            # what the checkpoint file holds
        buffer.seek(0)
        load_weighting_state(fresh, torch.load(buffer, weights_only=True))
        again = weighting_state(fresh)
        for key, value in weighting_state(used).items():
            restored = again[key]
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, restored), (name, key)
            elif isinstance(value, dict) and "generator" in value:
                assert torch.equal(value["generator"], restored["generator"]), (name, key)
            elif isinstance(value, dict):
                assert str(value) == str(restored), (name, key)
            elif isinstance(value, list):
                assert all(torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
                           for a, b in zip(value, restored)), (name, key)
            else:
                assert value == restored, (name, key)


def test_a_cosine_schedule_is_not_resumed_with_other_epochs(data, tmp_path):
    train, _ = data
    fit(build_model(tasks(), seed=1), tasks(), train, epochs=1, batch_size=8, schedule="cosine", progress=False,
        checkpoint=tmp_path / "run.pt")
    with pytest.raises(ValueError, match="over 1 epochs; resuming it with epochs=3"):
        fit(build_model(tasks(), seed=1), tasks(), train, epochs=3, batch_size=8, schedule="cosine", progress=False,
            checkpoint=tmp_path / "run.pt")

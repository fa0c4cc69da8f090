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
    assert len(reads) == 1 + 2 * 40                                # one to look at, then every sample every epoch


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

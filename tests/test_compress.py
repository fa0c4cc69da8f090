"""Knowledge distillation: the losses by hand, bad arguments, and a student that gets closer to its teacher."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mtl_course.compress import Distill, distill, distillation_loss, teacher_outputs
from mtl_course.data import SyntheticScenes
from mtl_course.models import MultiTaskNet, build_model, count_parameters
from mtl_course.tasks import get_task
from mtl_course.train import evaluate, fit


def test_the_three_losses_by_hand():
    teacher = torch.tensor([[[[2.0]], [[0.0]], [[-1.0]]]])             # [1, 3, 1, 1]: one pixel, three classes
    student = torch.tensor([[[[0.0]], [[1.0]], [[0.0]]]])
    t = 2.0
    p = torch.softmax(teacher[0, :, 0, 0] / t, 0)
    q = torch.softmax(student[0, :, 0, 0] / t, 0)
    kl = float((p * (p.log() - q.log())).sum())                         # KL(teacher || student)
    assert distillation_loss(student, teacher, "softmax", t).item() == pytest.approx(t * t * kl)
    assert distillation_loss(teacher, teacher, "softmax", t).item() == pytest.approx(0.0, abs=1e-7)
    logits, target_logits = torch.tensor([[0.5, -1.0]]), torch.tensor([[2.0, 0.0]])
    sure = torch.sigmoid(target_logits)
    by_hand = -(sure * torch.log(torch.sigmoid(logits)) + (1 - sure) * torch.log(1 - torch.sigmoid(logits))).mean()
    assert distillation_loss(logits, target_logits, "sigmoid").item() == pytest.approx(by_hand.item())
    assert distillation_loss(torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2), "l1").item() == 1.0
    with pytest.raises(ValueError, match="differ"):
        distillation_loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 4, 2, 2), "softmax")


def test_bad_distillation_arguments_are_refused():
    with pytest.raises(ValueError, match=">= 0"):
        Distill(get_task("depth"), weight=-1)
    with pytest.raises(ValueError, match="> 0"):
        Distill(get_task("depth"), temperature=0)
    with pytest.raises(ValueError, match="distillable tasks"):
        Distill(get_task("consistency"))
    task = Distill(get_task("semseg", num_classes=6))
    assert (task.name, task.target, task.reads, task.form) == ("distill/semseg", "teacher/semseg", ["semseg"],
                                                               "softmax")


def small_student(tasks) -> MultiTaskNet:
    """Half the teacher's channels: the student of a distillation."""
    return build_model(tasks, width=0.5, seed=1)


def test_a_distilled_student_is_closer_to_its_teacher_than_one_trained_on_labels_alone():
    train = SyntheticScenes(n=64, size=32, seed=5, split="train", cache=False)
    val = SyntheticScenes(n=32, size=32, seed=5, split="val", cache=False)
    tasks = [get_task("semseg", num_classes=6), get_task("depth")]
    teacher = build_model(tasks, seed=0)
    fit(teacher, tasks, train, epochs=3, batch_size=8, lr=3e-3, seed=0, progress=False)
    reference = teacher_outputs(teacher, val, tasks)
    assert reference["teacher/semseg"].shape == (32, 6, 32, 32) and reference["teacher/depth"].shape == (32, 1, 32, 32)
    gaps = {}
    for name, weight in (("labels alone", 0.0), ("distilled", 5.0)):
        student = small_student(tasks)
        history = distill(teacher, student, tasks, train, val, weight=weight, temperature=2.0, epochs=3,
                          batch_size=8, lr=3e-3, seed=0, progress=False)
        assert set(history.val_metrics) == {"semseg", "depth", "distill/semseg", "distill/depth"}
        gaps[name] = history.val_metrics["distill/semseg"]["gap"][-1]
        assert math.isfinite(history.val_metrics["distill/depth"]["gap"][-1])
    assert gaps["distilled"] < 0.8 * gaps["labels alone"], gaps
    model_scores = evaluate(student, tasks, val)                        # the student is an ordinary model
    assert 0 <= model_scores["semseg"]["miou"] <= 1
    with pytest.raises(ValueError, match="no head"):
        distill(teacher, small_student(tasks[:1]), tasks, train, epochs=1, progress=False)
    with pytest.raises(ValueError, match="teacher has no output"):
        teacher_outputs(teacher, val, [get_task("edges")])


def test_global_pruning_ranks_every_convolution_weight_together():
    from mtl_course.compress import convolutions, prune_model, sparsity
    model = build_model([get_task("semseg", num_classes=6), get_task("depth")], seed=0)
    for conv in convolutions(model.heads):                             # heads with large weights: they must survive
        torch.nn.init.constant_(conv.weight, 5.0)
    everything = torch.cat([conv.weight.detach().abs().flatten() for conv in convolutions(model)])
    k = round(0.6 * everything.numel())
    threshold = everything.kthvalue(k).values
    prune_model(model, amount=0.6, scope="global")
    zeros = sum(int((conv.weight == 0).sum()) for conv in convolutions(model))
    assert zeros == k and sparsity(model) == pytest.approx(0.6, abs=1e-4)
    for conv in convolutions(model):
        assert (conv.weight[conv.weight != 0].abs() >= threshold).all()
    assert all((conv.weight != 0).all() for conv in convolutions(model.heads))      # per layer, half would be gone
    per_layer = [round(float((conv.weight == 0).float().mean()), 2) for conv in convolutions(model.trunk)]
    assert max(per_layer) - min(per_layer) > 0.2                       # the layers lost different fractions


def test_pruning_zeroes_the_smallest_weights_or_whole_channels_and_sticks():
    from mtl_course.compress import convolutions, prune_model, sparsity
    model = build_model([get_task("semseg", num_classes=6), get_task("depth")], seed=0)
    before = [conv.weight.detach().clone() for conv in convolutions(model)]
    assert sparsity(model) == 0.0
    prune_model(model, amount=0.5)
    for old, conv in zip(before, convolutions(model)):
        zero = conv.weight == 0
        assert int(zero.sum()) == round(0.5 * old.numel())            # per layer, not over the whole network
        assert old[zero].abs().max() <= old[~zero].abs().min()         # the smallest |w| went
        assert not hasattr(conv, "weight_orig")                        # permanent: no mask left behind
    assert 0.49 < sparsity(model) < 0.51
    assert model(torch.rand(2, 3, 32, 32))["semseg"].shape == (2, 6, 32, 32)

    channels = build_model([get_task("depth")], seed=0)
    prune_model(channels, amount=0.25, structured=True)
    for conv in convolutions(channels):
        empty = (conv.weight.flatten(1) == 0).all(dim=1)              # output channels that are all zero
        assert int(empty.sum()) == round(0.25 * conv.out_channels)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        prune_model(channels, amount=1.5)
    with pytest.raises(ValueError, match="scope='layer'"):
        prune_model(channels, amount=0.5, structured=True, scope="global")
    with pytest.raises(ValueError, match="valid scopes"):
        prune_model(channels, amount=0.5, scope="network")
    trained = build_model([get_task("depth")], seed=0).to(memory_format=torch.channels_last)   # as fit leaves it
    expected = prune_model(build_model([get_task("depth")], seed=0), amount=0.5)
    prune_model(trained, amount=0.5)
    for conv, reference in zip(convolutions(trained), convolutions(expected)):
        assert torch.equal(conv.weight, reference.weight)
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)      # its layout kept
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        prune_model(torch.nn.Linear(2, 2), amount=0.5)


def test_lesson_09s_students_differ_only_by_the_distillation_loss():
    from mtl_course.lessons import LessonSetup
    from mtl_course.lessons.deploy import latency_ms, train_student, train_teacher
    setup = LessonSetup(size=32, n_train=16, n_val=8, epochs=1, batch_size=8)
    data = (SyntheticScenes(n=16, size=32, seed=0, split="train", cache=False),
            SyntheticScenes(n=8, size=32, seed=0, split="val", cache=False))
    teacher, _ = train_teacher(setup, progress=False, data=data)
    alone, _ = train_student(setup, progress=False, data=data)
    weightless, history = train_student(setup, teacher=teacher, weight=0.0, progress=False, data=data)
    distilled, _ = train_student(setup, teacher=teacher, weight=1.0, progress=False, data=data)
    assert "distill/semseg" in history.val_metrics
    assert count_parameters(alone) < 0.3 * count_parameters(teacher)          # width 0.5: ~a quarter
    for a, b, c in zip(alone.parameters(), weightless.parameters(), distilled.parameters()):
        assert torch.allclose(a, b, atol=1e-6)        # same start, data and steps: a zero weight changes nothing
    assert any(not torch.allclose(a, c, atol=1e-4) for a, c in zip(alone.parameters(), distilled.parameters()))
    ms = latency_ms([teacher], batch=2, size=32, repeats=3)
    assert ms > 0 and not teacher.training

"""The centres and offsets tasks (losses, metrics, bad targets), and lesson 07's harness end to end on tiny data."""

from __future__ import annotations

import math

import pytest
import torch

from mtl_course.data import SyntheticScenes
from mtl_course.lessons import LessonSetup, lesson_task, train_model
from mtl_course.lessons.instances import evaluate_panoptic, panoptic_outputs, predict_panoptic
from mtl_course.metrics import center_counts, center_scores, offset_sums
from mtl_course.models import build_model
from mtl_course.tasks import focal_loss, get_task
from mtl_course.train import evaluate, fit

NAN = float("nan")


def test_focal_loss_by_hand():
    target = torch.tensor([[[[1.0, 0.5, 0.0]]]])                      # a centre, a pixel near it, a far pixel
    logits = torch.tensor([[[[0.0, 0.0, math.log(0.2 / 0.8)]]]])      # p = 0.5, 0.5, 0.2
    positive = -(0.5 ** 2) * math.log(0.5)
    near = -(0.5 ** 4) * (0.5 ** 2) * math.log(0.5)                   # (1 - 0.5)^4: barely punished near a centre
    far = -(1.0 ** 4) * (0.2 ** 2) * math.log(0.8)
    assert focal_loss(logits, target).item() == pytest.approx(positive + near + far)   # one centre: divided by 1
    two = torch.cat([target, target])
    assert focal_loss(torch.cat([logits, logits]), two).item() == pytest.approx(positive + near + far)


def test_centres_task_prefers_peaks_on_the_centres_and_starts_at_the_prior():
    task = get_task("centers")
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 3, 4] = 1.0
    good, bad = torch.full((1, 1, 8, 8), -6.0), torch.full((1, 1, 8, 8), -6.0)
    good[0, 0, 3, 4] = bad[0, 0, 6, 1] = 6.0
    assert task.loss(good, target) < 0.01 < task.loss(bad, target)
    assert torch.sigmoid(torch.tensor(task.initial_bias)).item() == pytest.approx(0.1)
    assert get_task("centers", loss="mse").loss(good, target) < get_task("centers", loss="mse").loss(bad, target)
    with pytest.raises(ValueError, match="valid losses"):
        get_task("centers", loss="l1")
    with pytest.raises(ValueError, match=r"\[0, 1\].*center_targets"):
        task.check_target(target * 2)


def test_centre_counts_match_one_to_one_within_the_radius():
    target = torch.zeros(1, 1, 12, 12)
    target[0, 0, 2, 2] = target[0, 0, 9, 9] = 1.0                     # two true centres
    pred = torch.zeros(1, 1, 12, 12)
    pred[0, 0, 4, 2] = 0.9                                             # 2 px from (2, 2): found (the boundary)
    pred[0, 0, 9, 7] = 0.8                                             # 2 px from (9, 9): found
    pred[0, 0, 6, 6] = 0.7                                             # far from both: a false positive
    assert center_counts(pred, target, radius=2.0, kernel=3).tolist() == [2, 1, 0]
    assert center_counts(pred, target, radius=1.9, kernel=3).tolist() == [0, 3, 2]
    pred[0, 0, 2, 4] = 0.95                                            # a second peak near (2, 2): (2, 2) is taken
    assert center_counts(pred, target, radius=2.0, kernel=3).tolist() == [2, 2, 0]
    scores = center_scores(torch.tensor([2, 2, 0]))
    assert scores == {"f_score": pytest.approx(2 / 3), "precision": 0.5, "recall": 1.0}
    assert center_scores(torch.tensor([0, 0, 0]))["f_score"] == 0.0


def test_offsets_loss_and_error_leave_the_background_out():
    target = torch.full((1, 2, 2, 2), NAN)
    target[0, :, 0, 0] = torch.tensor([3.0, 4.0])                     # one object pixel
    target[0, :, 1, 1] = torch.tensor([0.0, 0.0])                     # and the centre pixel itself: a true zero
    output = torch.zeros(1, 2, 2, 2)
    output[0, :, 0, 1] = 100.0                                         # wrong on the background: not counted
    task = get_task("offsets")
    assert task.loss(output, target).item() == pytest.approx((3 + 4 + 0 + 0) / 4)   # L1 over 2 pixels x 2 channels
    assert task.metrics(output, target)["epe"] == pytest.approx((5.0 + 0.0) / 2)    # end-point error: |(3, 4)| = 5
    assert offset_sums(output, target).tolist() == [5.0, 2.0]
    empty = torch.full((1, 2, 2, 2), NAN)
    assert task.loss(output.requires_grad_(), empty).item() == 0.0
    with pytest.raises(ValueError, match="NaN everywhere"):
        task.check_target(empty)
    with pytest.raises(ValueError, match="inf"):
        task.check_target(torch.full((1, 2, 2, 2), float("inf")))


def test_training_and_panoptic_evaluation_on_scenes():
    setup = LessonSetup(size=32, n_train=16, n_val=8, epochs=1, batch_size=8)
    tasks = [lesson_task(n) for n in ("semseg", "centers", "offsets")]
    model, history = train_model(tasks, setup, progress=False)
    assert set(history.val_metrics) == {"semseg", "centers", "offsets"}
    val = setup.data()[1]
    scores = evaluate_panoptic(model, val)
    assert set(scores) == {"pq", "sq", "rq", "per_class"} and 0 <= scores["pq"] <= 1
    assert 0 in scores["per_class"]                                    # the background is always there
    semseg, instance = predict_panoptic(model, val.tensors()["image"])
    assert semseg.shape == instance.shape == (8, 32, 32)
    assert (instance[semseg == 0] == 0).all()
    truth = evaluate_panoptic(model, val, true_semseg=True)            # grouping the true segmentation
    assert truth["per_class"][0]["pq"] == 1.0                          # the background segment is then exact


def test_grouping_needs_centres_and_offsets_from_the_models():
    setup = LessonSetup(size=32, n_train=8, n_val=8, epochs=1, batch_size=8)
    model, _ = train_model([lesson_task("semseg")], setup, progress=False)
    with pytest.raises(ValueError, match=r"no \['centers', 'offsets'\].*get_task\('centers'\)"):
        panoptic_outputs(model, torch.zeros(1, 3, 32, 32))


def test_the_background_nans_never_reach_the_gradients():
    data = SyntheticScenes(n=8, size=32, seed=2, split="val", cache=False).tensors()
    assert data["offsets"].isnan().any()                               # the background of real scenes
    model = build_model([get_task("offsets")], seed=0)
    history = fit(model, [get_task("offsets")], data, epochs=2, batch_size=4, progress=False, seed=0)
    assert all(math.isfinite(v) for v in history.train_loss["offsets"])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isfinite(evaluate(model, [get_task("offsets")], data)["offsets"]["epe"])

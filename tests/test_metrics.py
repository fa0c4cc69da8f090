import math

import numpy as np
import pytest
import torch

from mtl_course.metrics import (angle_errors, confusion_matrix, delta_m, depth_scores, depth_sums, edge_counts,
                                edge_scores, multilabel_counts, multilabel_scores, normal_scores, normal_stats,
                                segmentation_scores)
from mtl_course.tasks import get_task


def test_miou_of_a_2x2_image_with_one_wrong_pixel():
    pred = torch.tensor([[[0, 1], [1, 1]]])
    target = torch.tensor([[[0, 1], [0, 1]]])
    cm = confusion_matrix(pred, target, num_classes=2)
    assert cm.tolist() == [[1, 1], [0, 2]]
    scores = segmentation_scores(cm)
    # IoU(0) = 1 / (1 + 1) ; IoU(1) = 2 / (2 + 1)
    assert scores["miou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert scores["pixel_acc"] == pytest.approx(3 / 4)


def test_miou_skips_ignored_pixels_and_absent_classes():
    pred = torch.tensor([[[0, 2, 1]]])
    target = torch.tensor([[[0, 255, 1]]])
    scores = segmentation_scores(confusion_matrix(pred, target, num_classes=4))
    assert scores["miou"] == pytest.approx(1.0)       # classes 2 (ignored pixel) and 3 never occur


def test_miou_matches_a_per_class_loop():
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randint(0, 5, (3, 8, 8), generator=gen), torch.randint(0, 5, (3, 8, 8), generator=gen)
    ious = []
    for c in range(5):
        inter = ((pred == c) & (target == c)).sum().item()
        union = ((pred == c) | (target == c)).sum().item()
        ious.append(inter / union)
    assert segmentation_scores(confusion_matrix(pred, target, 5))["miou"] == pytest.approx(np.mean(ious))


def test_depth_errors_on_valid_pixels_only():
    pred = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    target = torch.tensor([1.0, 1.0, 0.0, 2.0]).view(1, 1, 2, 2)       # 0 = no measurement
    scores = depth_scores(depth_sums(pred, target))
    assert scores["abs_err"] == pytest.approx((0 + 1 + 2) / 3)
    assert scores["rel_err"] == pytest.approx((0 / 1 + 1 / 1 + 2 / 2) / 3)
    assert scores["rmse"] == pytest.approx(math.sqrt((0 + 1 + 4) / 3))


def test_edge_fscore_tolerance_of_one_pixel():
    target = torch.zeros(1, 1, 5, 5)
    target[..., :, 2] = 1                                   # a vertical edge, 5 pixels
    prob = torch.zeros(1, 1, 5, 5)
    prob[..., :, 3] = 0.9                                   # predicted one column to the right
    prob[..., 0, 0] = 0.9                                   # and one false pixel far away
    thresholds = torch.tensor([0.5])
    within = edge_scores(edge_counts(prob, target, tolerance=1, thresholds=thresholds), thresholds)
    # precision 5/6 (the far pixel is wrong), recall 5/5
    assert within["precision"] == pytest.approx(5 / 6) and within["recall"] == pytest.approx(1.0)
    assert within["f_score"] == pytest.approx(2 * (5 / 6) / (5 / 6 + 1))
    exact = edge_scores(edge_counts(prob, target, tolerance=0, thresholds=thresholds), thresholds)
    assert exact["f_score"] == 0.0


def test_edge_fscore_picks_the_best_threshold():
    target = torch.zeros(1, 1, 4, 4)
    target[..., 0, :] = 1
    prob = torch.full((1, 1, 4, 4), 0.3)
    prob[..., 0, :] = 0.8
    scores = edge_scores(edge_counts(prob, target, tolerance=0))
    assert scores["f_score"] == pytest.approx(1.0) and 0.3 < scores["threshold"] <= 0.8


def test_normal_angles_hand_computed():
    target = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 1, 3).clone()
    pred = torch.stack([torch.tensor([0.0, 0.0, 1.0]),                                   # 0 degrees
                        torch.tensor([math.sin(math.radians(60)), 0.0, math.cos(math.radians(60))]),
                        torch.tensor([1.0, 0.0, 0.0])], dim=1).view(1, 3, 1, 3)      # 90 degrees
    assert angle_errors(pred, target).tolist() == pytest.approx([0, 60, 90], abs=1e-4)
    scores = normal_scores(normal_stats(pred, target))
    assert scores["mean_angle"] == pytest.approx(50, abs=1e-4)
    assert scores["median_angle"] == pytest.approx(60, abs=1e-4)      # the middle error itself, no bin
    assert scores["within_11.25"] == pytest.approx(100 / 3)
    assert scores["within_30"] == pytest.approx(100 / 3)


def test_normal_median_matches_torch_median():
    gen = torch.Generator().manual_seed(1)
    target = torch.nn.functional.normalize(torch.randn(2, 3, 8, 8, generator=gen), dim=1)
    pred = target + 0.5 * torch.randn(2, 3, 8, 8, generator=gen)
    errors = angle_errors(pred, target)
    scores = normal_scores(normal_stats(pred, target))
    # the exact median; with an even count (128 here) the mean of the two middle errors, as numpy's median
    assert scores["median_angle"] == pytest.approx(torch.quantile(errors, 0.5).item(), abs=1e-12)
    assert scores["median_angle"] != pytest.approx(errors.median().item(), abs=1e-6)     # torch's lower median
    assert scores["mean_angle"] == pytest.approx(errors.mean().item())


def test_multilabel_f1_hand_computed():
    prob = torch.tensor([[0.9, 0.1], [0.8, 0.7]])
    target = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    scores = multilabel_scores(multilabel_counts(prob, target))
    # label 0: TP 1, FP 1 -> F1 2/3 ; label 1: TP 1, FN 1 -> F1 2/3
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == pytest.approx(2 / 4)


def test_metrics_accumulate_exactly_over_batches(batch, all_tasks):
    gen = torch.Generator().manual_seed(0)
    for task in all_tasks:
        target = batch[task.target]
        shape = (len(target), task.out_channels, 32, 32) if task.dense else (len(target), task.out_channels)
        output = torch.randn(*shape, generator=gen)
        if task.name == "depth":
            output = output + target
        whole = task.metrics(output, target)
        state = task.metric_state()
        for start in range(0, len(target), 5):
            state.update(output[start:start + 5], target[start:start + 5])
        for metric, value in state.compute().items():
            assert value == pytest.approx(whole[metric], rel=1e-9, abs=1e-12), (task.name, metric)


def test_delta_m_hand_computed():
    semseg, depth = get_task("semseg", num_classes=3), get_task("depth")
    stl = {"semseg": {"miou": 0.50}, "depth": {"abs_err": 1.0}}
    # +10 % mIoU, +10 % error (worse): they cancel
    assert delta_m({"semseg": {"miou": 0.55}, "depth": {"abs_err": 1.1}}, stl, [semseg, depth]) == pytest.approx(0)
    # +10 % mIoU, -20 % error (better): (10 + 20) / 2
    assert delta_m({"semseg": {"miou": 0.55}, "depth": {"abs_err": 0.8}}, stl, [semseg, depth]) == pytest.approx(15)
    assert delta_m({"semseg": {"miou": 0.45}}, stl, [semseg]) == pytest.approx(-10)


def test_delta_m_missing_score_is_a_clear_error():
    with pytest.raises(KeyError, match="depth"):
        delta_m({"semseg": {"miou": 0.5}}, {"semseg": {"miou": 0.5}}, [get_task("depth")])

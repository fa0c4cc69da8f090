"""Cases that tell the plausible conventions of each metric and loss apart, asserted exactly.

Each test names the alternative it rules out. The values are chosen so that the alternative gives a
different number: several images with unequal valid-pixel counts, invalid pixels, values exactly on a
boundary, a class that is never present nor predicted.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mtl_course.metrics import (confusion_matrix, delta_m, depth_scores, depth_sums, multilabel_counts,
                                multilabel_scores, normal_scores, normal_stats, segmentation_scores)
from mtl_course.metrics.delta_m import HIGHER_IS_BETTER
from mtl_course.tasks import get_task


def exact(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


# --- semantic segmentation ----------------------------------------------------------------------------------
def test_pixel_accuracy_pools_pixels_not_the_mean_class_recall():
    target = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 0, 1, 1]])
    pred = torch.zeros_like(target)                       # every pixel predicted as class 0
    scores = segmentation_scores(confusion_matrix(pred, target, 2))
    assert scores["pixel_acc"] == exact(0.8)             # mean class recall would be (1 + 0) / 2 = 0.5
    assert scores["miou"] == exact((0.8 + 0.0) / 2)      # IoU_0 = 8 / 10, IoU_1 = 0 / 2


def test_miou_leaves_out_a_class_neither_present_nor_predicted():
    target = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 1, 1, 1]])
    scores = segmentation_scores(confusion_matrix(pred, target, 4))    # classes 2 and 3 never appear
    iou0, iou1 = 1 / 2, 2 / 3
    assert scores["miou"] == exact((iou0 + iou1) / 2)    # counted as 0: /4 smaller; as 1: larger


def test_miou_pools_the_dataset_not_the_mean_over_images():
    targets = torch.tensor([[0, 0, 0, 1], [1, 1, 1, 1]])
    preds = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    pooled = segmentation_scores(confusion_matrix(preds, targets, 2))["miou"]
    # pooled: IoU_0 = 2 / 3, IoU_1 = 5 / 6; per image: (2/3 + 1/2) / 2 and 1, averaged = 0.7917
    assert pooled == exact((2 / 3 + 5 / 6) / 2)


def test_ignored_pixels_count_nowhere_and_all_ignored_is_nan():
    target = torch.tensor([[0, 255, 1, 255]])
    pred = torch.tensor([[0, 1, 1, 0]])
    scores = segmentation_scores(confusion_matrix(pred, target, 2))
    assert scores["miou"] == exact(1.0) and scores["pixel_acc"] == exact(1.0)
    nothing = segmentation_scores(confusion_matrix(pred, torch.full_like(target, 255), 2))
    assert math.isnan(nothing["miou"]) and math.isnan(nothing["pixel_acc"])       # not 0.0


def test_semseg_loss_averages_over_valid_pixels_of_all_images():
    task = get_task("semseg", num_classes=2)
    logits = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 0.0, 0.0]]], [[[0.0, 3.0, 0.0]], [[1.0, 0.0, 0.0]]]])
    target = torch.tensor([[[0, 255, 1]], [[1, 1, 255]]])
    per_pixel = F.cross_entropy(logits, target.clamp(max=1), reduction="none")
    valid = target != 255
    assert task.loss(logits, target).item() == exact(per_pixel[valid].mean().item())   # 4 valid pixels, not 6


# --- depth --------------------------------------------------------------------------------------------------
def test_depth_errors_pool_pixels_across_images_with_unequal_valid_counts():
    target = torch.tensor([[[[2.0, 0.0, 0.0, 0.0]]], [[[1.0, 2.0, 4.0, 0.0]]]])   # 1 and 3 valid pixels
    pred = torch.tensor([[[[6.0, 9.0, 9.0, 9.0]]], [[[1.0, 2.0, 6.0, 9.0]]]])     # errors 4 | 0, 0, 2
    scores = depth_scores(depth_sums(pred, target))
    assert scores["abs_err"] == exact(6 / 4)             # image-averaged: (4 + 2/3) / 2 = 2.33
    assert scores["rel_err"] == exact((4 / 2 + 2 / 4) / 4)   # |d| / target; |d| / pred would give 0.25
    assert scores["rmse"] == exact(math.sqrt(20 / 4))    # mean of per-image RMSEs: (4 + sqrt(4/3)) / 2 = 2.58


def test_depth_invalid_pixels_zero_nan_inf_are_skipped_in_metric_and_loss():
    target = torch.tensor([[[[1.0, 0.0, float("nan"), 3.0]]]])
    pred = torch.tensor([[[[2.0, 5.0, 5.0, 3.0]]]])
    scores = depth_scores(depth_sums(pred, target))
    assert scores["abs_err"] == exact(0.5) and depth_sums(pred, target)[0].item() == 2
    loss = get_task("depth").loss(pred, target)
    assert loss.item() == exact(0.5)                     # NaN and 0 are no measurement, not an error of 5 m
    inf = depth_sums(pred, torch.tensor([[[[1.0, float("inf"), 0.0, 3.0]]]]))
    assert inf[0].item() == 2


def test_depth_losses_l1_and_l2():
    target = torch.tensor([[[[1.0, 2.0, 0.0]]]])
    pred = torch.tensor([[[[3.0, 2.0, 7.0]]]])
    assert get_task("depth").loss(pred, target).item() == exact(1.0)             # (2 + 0) / 2
    assert get_task("depth", loss="l2").loss(pred, target).item() == exact(2.0)  # (4 + 0) / 2


# --- normals ------------------------------------------------------------------------------------------------
def test_within_thresholds_are_strict_on_the_boundary():
    errors = torch.tensor([11.25, 11.0, 22.5, 30.0, 45.0], dtype=torch.float64)
    scores = normal_scores(errors)
    assert scores["within_11.25"] == exact(20.0)         # 11.25 itself is not within 11.25
    assert scores["within_22.5"] == exact(40.0)
    assert scores["within_30"] == exact(60.0)


def test_normal_median_is_exact_for_even_and_odd_counts():
    assert normal_scores(torch.tensor([1.0, 2.0, 3.0, 10.0], dtype=torch.float64))["median_angle"] == exact(2.5)
    assert normal_scores(torch.tensor([7.0, 1.0, 3.0], dtype=torch.float64))["median_angle"] == exact(3.0)


def test_zero_normals_are_invalid_in_metric_and_loss_and_pixels_pool_across_images():
    up, side = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0])
    target = torch.stack([torch.stack([up, torch.zeros(3)], 1), torch.stack([up, up], 1)]).view(2, 3, 1, 2)
    pred = torch.stack([torch.stack([side, side], 1), torch.stack([up, up * 3], 1)]).view(2, 3, 1, 2)
    errors = normal_stats(pred, target)
    assert errors.tolist() == pytest.approx([90.0, 0.0, 0.0])        # the zero normal is skipped; length ignored
    assert normal_scores(errors)["mean_angle"] == exact(30.0)         # image-averaged would be (90 + 0) / 2 = 45
    assert get_task("normals").loss(pred, target).item() == pytest.approx(1 / 3)   # (1 + 0 + 0) / 3 valid pixels


def test_normals_over_batches_equal_one_batch():
    task = get_task("normals")
    gen = torch.Generator().manual_seed(0)
    target = F.normalize(torch.randn(3, 3, 4, 4, generator=gen), dim=1)
    target[1, :, :2] = 0                                               # invalid pixels in one image
    pred = torch.randn(3, 3, 4, 4, generator=gen)
    state = task.metric_state()
    state.update(pred[:1], target[:1])
    state.update(pred[1:], target[1:])
    assert state.compute() == task.metrics(pred, target)


# --- edges (the loss; the F-score's own tests are in test_metrics) ------------------------------------------
def test_edge_loss_balances_classes_over_the_batch_not_per_image():
    target = torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]], [[[1.0, 1.0, 1.0, 0.0]]]])   # 1/4 and 3/4 edges: 1/2 overall
    logits = torch.tensor([[[[0.0, 1.0, -1.0, 2.0]]], [[[3.0, -2.0, 0.5, 0.0]]]])
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    assert get_task("edges").loss(logits, target).item() == pytest.approx((2 * 0.5 * bce).mean().item(), rel=1e-6)


# --- multi-label --------------------------------------------------------------------------------------------
def test_multilabel_f1_is_macro_not_micro_and_skips_unseen_labels():
    prob = torch.tensor([[0.9, 0.9, 0.1], [0.9, 0.1, 0.1], [0.9, 0.1, 0.1], [0.1, 0.1, 0.1]])
    target = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    scores = multilabel_scores(multilabel_counts(prob, target))
    f1_a, f1_b = 2 * 3 / (2 * 3 + 0 + 1), 0.0           # label a: TP 3, FN 1; label b: FP 1, FN 1; c: unseen
    assert scores["f1"] == exact((f1_a + f1_b) / 2)      # micro F1 = 6 / 9; counting c as 1 or 0 differs too
    assert scores["accuracy"] == exact(9 / 12)


def test_multilabel_threshold_half_is_positive_and_nothing_seen_is_nan():
    counts = multilabel_counts(torch.tensor([[0.5, 0.4999]]), torch.tensor([[1.0, 0.0]]))
    assert counts.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]   # (TP, FP, FN, TN): p = 0.5 is positive, 0.4999 not
    nothing = multilabel_scores(multilabel_counts(torch.tensor([[0.1, 0.2]]), torch.tensor([[0.0, 0.0]])))
    assert math.isnan(nothing["f1"]) and nothing["accuracy"] == exact(1.0)


# --- delta_m ------------------------------------------------------------------------------------------------
SEMSEG, DEPTH = get_task("semseg", num_classes=6), get_task("depth")
STL = {"semseg": {"miou": 0.50, "pixel_acc": 0.80}, "depth": {"abs_err": 0.40, "rel_err": 0.20, "rmse": 0.50}}
MTL = {"semseg": {"miou": 0.55, "pixel_acc": 0.76}, "depth": {"abs_err": 0.44, "rel_err": 0.18, "rmse": 0.45}}


def test_delta_m_primary_metrics_worked_example():
    # semseg mIoU +10 %, depth abs_err 10 % worse: (10 - 10) / 2 = 0
    assert delta_m(MTL, STL, [SEMSEG, DEPTH]) == exact(0.0)


def test_delta_m_with_depth_rmse_as_published_nyud_tables_use():
    # semseg +10 %, depth RMSE 10 % better: (10 + 10) / 2 = 10
    assert delta_m(MTL, STL, [SEMSEG, DEPTH], metrics={"depth": ["rmse"]}) == exact(10.0)


def test_delta_m_averaging_all_metrics_of_each_task_as_libmtl_does():
    semseg = (+0.10 + (0.76 - 0.80) / 0.80) / 2                         # (+10 % - 5 %) / 2 = +2.5 %
    depth = (-0.10 + 0.10 + 0.10) / 3                                   # abs_err worse, rel_err and rmse better
    value = delta_m(MTL, STL, [SEMSEG, DEPTH], metrics={"semseg": ["miou", "pixel_acc"],
                                                        "depth": ["abs_err", "rel_err", "rmse"]})
    assert value == exact(100 * (semseg + depth) / 2)


def test_delta_m_refuses_a_task_it_does_not_average():
    with pytest.raises(KeyError, match="not among the tasks"):
        delta_m(MTL, STL, [SEMSEG], metrics={"depth": ["rmse"]})


def test_no_valid_pixel_gives_nan_not_zero():
    pred = torch.ones(1, 1, 2, 2)
    assert all(math.isnan(v) for v in depth_scores(depth_sums(pred, torch.zeros(1, 1, 2, 2))).values())
    assert all(math.isnan(v) for v in normal_scores(normal_stats(torch.ones(1, 3, 2, 2),
                                                                 torch.zeros(1, 3, 2, 2))).values())


def test_delta_m_takes_each_metrics_own_direction_not_its_tasks():
    normals, labels = get_task("normals"), get_task("labels", num_classes=4)
    names = {"normals": ["mean_angle", "median_angle", "within_11.25", "within_22.5", "within_30"],
             "labels": ["f1", "accuracy"]}
    stl = {task: {m: 2.0 for m in metrics} for task, metrics in names.items()}
    mtl = {task: {m: 2.2 for m in metrics} for task, metrics in names.items()}      # every value 10 % higher
    # normals: angles worse (-10, -10), "within" better (+10 x 3) -> +2 %; labels: +10 % -> delta_m = 6 %
    assert delta_m(mtl, stl, [normals, labels], metrics=names) == pytest.approx(6.0, rel=1e-12)


@pytest.mark.parametrize("scores", [{"semseg": {"miou": 0.5}}, {"depth": {"rmse": 0.5}}], ids=["no task", "no metric"])
def test_delta_m_names_the_missing_task_or_metric(scores):
    with pytest.raises(KeyError, match=r"mtl_scores has no 'depth' / 'abs_err' score; it holds"):
        delta_m(scores, {"depth": {"abs_err": 0.5}}, [get_task("depth")])


# --- edges, the tolerance protocol (the lessons' metric so far) ---------------------------------------------
def test_tolerance_protocol_is_chessboard_and_counts_the_threshold_itself():
    from mtl_course.metrics import edge_counts, edge_scores

    truth = torch.zeros(1, 1, 8, 8)
    truth[0, 0, 2, 2] = truth[0, 0, 5, 5] = 1
    prob = torch.zeros(1, 1, 8, 8)
    prob[0, 0, 3, 3] = 0.5                                   # diagonal neighbour of (2, 2): chessboard distance 1
    counts = edge_counts(prob, truth, tolerance=1, thresholds=torch.tensor([0.5]))
    assert counts[0].tolist() == [1, 1, 2, 1]                # predicted at p == threshold; city-block would miss it
    assert edge_scores(counts, torch.tensor([0.5]))["f_score"] == pytest.approx(2 / 3)


def test_a_label_seen_once_counts_in_the_mean_f1():
    counts = multilabel_counts(torch.tensor([[0.9, 0.1]]), torch.tensor([[1.0, 1.0]]))   # label 2: one FN
    assert multilabel_scores(counts)["f1"] == exact((1.0 + 0.0) / 2)


def test_task_specs_name_the_key_only_when_it_differs():
    assert get_task("depth").spec() == {"name": "depth", "initial_depth": 5.0}
    assert get_task("semseg", num_classes=6, key="other").spec() == {"name": "semseg", "num_classes": 6, "key": "other"}
    assert get_task("semseg", num_classes=6, ignore_index=-1).spec() == {"name": "semseg", "num_classes": 6,
                                                                         "ignore_index": -1}


def test_edges_task_protocols():
    from mtl_course.metrics import bsds_counts, bsds_scores

    bsds, tolerance = get_task("edges"), get_task("edges", protocol="tolerance")
    assert get_task(**bsds.spec()).spec() == bsds.spec() == {"name": "edges", "max_dist": 0.0075}
    assert get_task(**tolerance.spec()).spec() == tolerance.spec() == {"name": "edges", "protocol": "tolerance",
                                                                       "tolerance": 1}
    gen = torch.Generator().manual_seed(0)
    logits, target = torch.randn(2, 1, 32, 32, generator=gen), (torch.rand(2, 1, 32, 32, generator=gen) > 0.8).float()
    assert bsds.metrics(logits, target) == bsds_scores(bsds_counts(torch.sigmoid(logits), target))
    assert "ois" in bsds.metrics(logits, target) and "ois" not in tolerance.metrics(logits, target)
    with pytest.raises(ValueError, match="unknown edge protocol 'BSDS'"):
        get_task("edges", protocol="BSDS")


@pytest.mark.parametrize("name", ["semseg", "labels"])
def test_two_classes_is_the_smallest_valid_count(name):
    assert get_task(name, num_classes=2).num_classes == 2
    with pytest.raises(ValueError, match="num_classes >= 2"):
        get_task(name, num_classes=1)


def test_semseg_predicts_the_highest_logit_and_refuses_the_first_id_beyond_the_classes():
    task = get_task("semseg", num_classes=3)
    logits = torch.tensor([[[[5.0, -1.0]], [[0.0, 4.0]], [[1.0, 0.0]]]])           # [1, 3, 1, 2]
    assert task.predict(logits).tolist() == [[[0, 1]]]
    assert task.metrics(logits, torch.tensor([[[0, 1]]]))["miou"] == 1.0
    with pytest.raises(ValueError, match="class id 3 but the model predicts 3 classes"):
        task.loss(logits, torch.tensor([[[0, 3]]]))


def test_normals_prediction_is_unit_length_per_pixel():
    output = torch.tensor([[[[3.0, 0.0]], [[4.0, 0.0]], [[0.0, 2.0]]]])             # [1, 3, 1, 2]
    unit = get_task("normals").predict(output)
    assert torch.allclose(unit.norm(dim=1), torch.ones(1, 1, 2))
    assert unit[0, :, 0, 0].tolist() == pytest.approx([0.6, 0.8, 0.0])


def test_delta_m_edge_metrics_are_all_higher_is_better():
    edges = get_task("edges", protocol="bsds")
    stl = {"edges": {"precision": 0.5, "recall": 0.5, "ois": 0.5}}
    mtl = {"edges": {"precision": 0.6, "recall": 0.6, "ois": 0.6}}
    assert delta_m(mtl, stl, [edges], metrics={"edges": ["precision", "recall", "ois"]}) == pytest.approx(20.0)


def test_tolerance_protocol_defaults_and_a_single_predicted_pixel():
    from mtl_course.metrics import edge_counts, edge_scores
    from mtl_course.metrics.edges import THRESHOLDS

    assert len(THRESHOLDS) == 19 and THRESHOLDS[0].item() == pytest.approx(0.05)
    assert THRESHOLDS[-1].item() == pytest.approx(0.95)
    truth = torch.zeros(1, 1, 8, 8)
    truth[0, 0, 2, 2:4] = 1
    prob = torch.zeros(1, 1, 8, 8)
    prob[0, 0, 4, 2] = 0.9                                   # 2 pixels below the line: outside the default 1 px
    assert edge_scores(edge_counts(prob, truth))["f_score"] == 0.0
    prob[0, 0, 4, 2], prob[0, 0, 3, 2] = 0.0, 0.9            # 1 pixel below: one predicted pixel, precision 1
    result = edge_scores(edge_counts(prob, truth))
    assert (result["precision"], result["recall"]) == (1.0, 1.0)       # no one-to-one: it "finds" both


def test_task_repr_shows_its_arguments():
    assert repr(get_task("semseg", num_classes=6)) == "SemSeg(num_classes=6)"


def perfect_and_worse(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(target, output that predicts it exactly, output that gets part of it wrong) for one task."""
    gen = torch.Generator().manual_seed(3)
    if name == "semseg":
        target = torch.randint(0, 6, (2, 16, 16), generator=gen)
        perfect = 10 * F.one_hot(target, 6).permute(0, 3, 1, 2).float()
        wrong = target.clone()
        wrong[:, :6] = (wrong[:, :6] + 1) % 6                   # a third of the rows, the next class
        return target, perfect, 10 * F.one_hot(wrong, 6).permute(0, 3, 1, 2).float()
    if name == "depth":
        target = 1 + 4 * torch.rand(2, 1, 16, 16, generator=gen)
        return target, target.clone(), target + 0.5 * torch.rand(2, 1, 16, 16, generator=gen)
    if name == "edges":
        target = torch.zeros(2, 1, 32, 32)
        target[:, 0, 10, 4:28] = 1
        target[:, 0, 4:28, 20] = 1
        worse = torch.roll(target, 1, dims=-1).maximum(target * (torch.rand(2, 1, 32, 32, generator=gen) > 0.5))
        return target, 20 * target - 10, 20 * worse - 10          # half the lines one pixel off
    if name == "normals":
        target = F.normalize(torch.randn(2, 3, 16, 16, generator=gen), dim=1)
        return target, target.clone(), F.normalize(target + 0.4 * torch.randn(2, 3, 16, 16, generator=gen), dim=1)
    target = (torch.rand(8, 5, generator=gen) > 0.5).float()     # labels: 5 classes besides the background
    wrong = target.clone()
    wrong[:4, :3] = 1 - wrong[:4, :3]
    return target, 20 * target - 10, 20 * wrong - 10


@pytest.mark.parametrize("name", ["semseg", "depth", "edges", "normals", "labels"])
def test_delta_m_knows_the_direction_of_every_metric_a_task_reports(name):
    """HIGHER_IS_BETTER is checked against the metrics themselves: a perfect prediction must score higher than a
    partly wrong one exactly on the metrics the table calls higher-is-better (a flipped entry fails here)."""
    task = get_task(name, num_classes=6) if name in ("semseg", "labels") else get_task(name)
    target, perfect, worse = perfect_and_worse(name)
    best, other = task.metrics(perfect, target), task.metrics(worse, target)
    for metric in (m for m in best if m != "threshold"):            # the edge threshold is a setting, not a score
        assert best[metric] != other[metric], metric
        assert HIGHER_IS_BETTER[metric] == (best[metric] > other[metric]), metric

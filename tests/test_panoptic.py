"""Panoptic quality, bottom-up instance grouping and its targets (centres, offsets): hand-computed cases, an
independent reference, the round trip on real scenes, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch

from mtl_course.data import SyntheticScenes, center_targets, instance_centers
from mtl_course.metrics import find_centers, group_instances, panoptic_quality, panoptic_scores, panoptic_stats

# two touching objects of class 1 (instances 1 and 2) and one of class 2, on background (class 0, stuff)
TRUE_SEMSEG = torch.tensor([[0, 1, 1, 1, 1, 0],
                            [0, 1, 1, 1, 1, 0],
                            [0, 0, 0, 0, 2, 2],
                            [0, 0, 0, 0, 2, 2]])[None]
TRUE_INSTANCE = torch.tensor([[0, 1, 1, 2, 2, 0],
                              [0, 1, 1, 2, 2, 0],
                              [0, 0, 0, 0, 3, 3],
                              [0, 0, 0, 0, 3, 3]])[None]


def test_a_perfect_prediction_scores_one_whatever_the_instance_ids():
    renumbered = torch.where(TRUE_INSTANCE > 0, 10 - TRUE_INSTANCE, 0)
    scores = panoptic_quality(TRUE_SEMSEG, renumbered, TRUE_SEMSEG, TRUE_INSTANCE, num_classes=3)
    assert scores["pq"] == scores["sq"] == scores["rq"] == 1.0
    assert sorted(scores["per_class"]) == [0, 1, 2]


def test_merging_two_touching_objects_is_one_false_positive_and_two_false_negatives():
    merged = torch.where(TRUE_SEMSEG == 1, 1, TRUE_INSTANCE)          # semantic segmentation cannot count
    scores = panoptic_quality(TRUE_SEMSEG, merged, TRUE_SEMSEG, TRUE_INSTANCE, num_classes=3)
    # class 1: the merged segment overlaps each true one by IoU 4/8 = 0.5, not > 0.5: no match
    assert scores["per_class"][1] == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    assert scores["per_class"][0]["pq"] == scores["per_class"][2]["pq"] == 1.0
    assert scores["pq"] == pytest.approx(2 / 3) and scores["rq"] == pytest.approx(2 / 3)
    stats = panoptic_stats(TRUE_SEMSEG, merged, TRUE_SEMSEG, TRUE_INSTANCE, num_classes=3)
    assert stats[1].tolist() == [0.0, 0.0, 1.0, 2.0]                  # (IoU sum, TP, FP, FN)


def test_a_partial_overlap_above_one_half_matches_with_its_iou():
    pred_semseg, pred_instance = TRUE_SEMSEG.clone(), TRUE_INSTANCE.clone()
    pred_semseg[0, 1, 5], pred_instance[0, 1, 5] = 2, 3                # class 2 gains a background pixel
    pred_semseg[0, 3, 4], pred_instance[0, 3, 4] = 0, 0                # and loses one of its own: IoU 3/5
    scores = panoptic_quality(pred_semseg, pred_instance, TRUE_SEMSEG, TRUE_INSTANCE, num_classes=3)
    assert scores["per_class"][2] == pytest.approx({"pq": 0.6, "sq": 0.6, "rq": 1.0})
    assert scores["per_class"][0]["sq"] == pytest.approx(11 / 13)     # background: 11 shared of 13 pixels


def test_a_missed_object_halves_into_recognition_quality():
    pred_semseg, pred_instance = TRUE_SEMSEG.clone(), TRUE_INSTANCE.clone()
    missed = TRUE_INSTANCE == 2
    pred_semseg[missed], pred_instance[missed] = 0, 0                  # object 2 taken for background
    scores = panoptic_quality(pred_semseg, pred_instance, TRUE_SEMSEG, TRUE_INSTANCE, num_classes=3)
    assert scores["per_class"][1] == pytest.approx({"pq": 2 / 3, "sq": 1.0, "rq": 2 / 3})   # TP 1, FN 1: 1 / 1.5
    assert scores["per_class"][0]["sq"] == pytest.approx(12 / 16)


def test_a_class_only_in_the_prediction_counts_and_a_class_in_neither_does_not():
    pred_semseg = TRUE_SEMSEG.clone()
    pred_semseg[0, 3, 0] = 4                                           # a stray pixel of class 4 (a thing)
    scores = panoptic_quality(pred_semseg, TRUE_INSTANCE, TRUE_SEMSEG, TRUE_INSTANCE, num_classes=6)
    assert scores["per_class"][4] == {"pq": 0.0, "sq": 0.0, "rq": 0.0}  # one FP, nothing to find
    assert 3 not in scores["per_class"] and 5 not in scores["per_class"]
    assert len(scores["per_class"]) == 4


def test_ignored_pixels_leave_every_segment():
    true_semseg = TRUE_SEMSEG.clone()
    true_semseg[0, 2:, 4:] = 255                                       # the class-2 object is void
    scores = panoptic_quality(TRUE_SEMSEG, TRUE_INSTANCE, true_semseg, TRUE_INSTANCE, num_classes=3)
    assert 2 not in scores["per_class"] and scores["pq"] == 1.0


def test_an_empty_scene_has_no_score():
    zeros = torch.zeros(1, 4, 6, dtype=torch.long)
    assert math.isnan(panoptic_scores(torch.zeros(3, 4))["pq"])
    assert panoptic_quality(zeros, zeros, zeros, zeros, num_classes=3)["pq"] == 1.0   # background found


def reference_pq(pred_semseg, pred_instance, true_semseg, true_instance, num_classes, ignore_index=255):
    """An independent implementation: Python sets of pixel positions, one dict of segments per image."""
    totals = {c: [0.0, 0, 0, 0] for c in range(num_classes)}
    for b in range(pred_semseg.shape[0]):
        def segments(semseg, instance):
            found = {}
            for y in range(semseg.shape[1]):
                for x in range(semseg.shape[2]):
                    if true_semseg[b, y, x] == ignore_index:
                        continue
                    c = int(semseg[b, y, x])
                    key = (c, 0 if c == 0 else int(instance[b, y, x]))
                    found.setdefault(key, set()).add((y, x))
            return found
        pred, true = segments(pred_semseg, pred_instance), segments(true_semseg, true_instance)
        matched_pred, matched_true = set(), set()
        for pk, pp in pred.items():
            for tk, tp in true.items():
                iou = len(pp & tp) / len(pp | tp)
                if pk[0] == tk[0] and iou > 0.5:
                    totals[tk[0]][0] += iou
                    totals[tk[0]][1] += 1
                    matched_pred.add(pk)
                    matched_true.add(tk)
        for pk in pred.keys() - matched_pred:
            totals[pk[0]][2] += 1
        for tk in true.keys() - matched_true:
            totals[tk[0]][3] += 1
    return torch.tensor([totals[c] for c in range(num_classes)], dtype=torch.float64)


def test_stats_equal_an_independent_implementation_on_noisy_scenes():
    scenes = SyntheticScenes(n=6, size=32, seed=3, cache=False).tensors()
    true_semseg, true_instance = scenes["semseg"], scenes["instance"]
    generator = torch.Generator().manual_seed(0)
    pred_semseg, pred_instance = true_semseg.clone(), true_instance.clone()
    noise = torch.rand(true_semseg.shape, generator=generator) < 0.15
    pred_semseg[noise] = torch.randint(0, 6, (int(noise.sum()),), generator=generator)
    pred_instance[torch.rand(true_semseg.shape, generator=generator) < 0.1] = 0
    pred_instance[:, :, 16:] = torch.where(pred_instance[:, :, 16:] > 0, pred_instance[:, :, 16:] + 7, 0)  # a split
    true_semseg[:, :3, :3] = 255                                       # a void corner
    expected = reference_pq(pred_semseg, pred_instance, true_semseg, true_instance, num_classes=6)
    stats = panoptic_stats(pred_semseg, pred_instance, true_semseg, true_instance, num_classes=6)
    assert torch.allclose(stats, expected)
    assert expected[:, 1].sum() > 0 and expected[:, 2].sum() > 0 and expected[:, 3].sum() > 0   # TP, FP, FN all seen
    halves = (panoptic_stats(pred_semseg[:3], pred_instance[:3], true_semseg[:3], true_instance[:3], 6)
              + panoptic_stats(pred_semseg[3:], pred_instance[3:], true_semseg[3:], true_instance[3:], 6))
    assert torch.allclose(stats, halves)                               # adds up over batches


@pytest.mark.parametrize("change, phrase", [
    (lambda m: {**m, "pred_instance": m["pred_instance"].float()}, "integer ids"),
    (lambda m: {**m, "true_semseg": m["true_semseg"][0]}, "[B, H, W]"),
    (lambda m: {**m, "pred_semseg": m["pred_semseg"][:, :3]}, "same shape"),
    (lambda m: {**m, "true_semseg": m["true_semseg"] * 3}, "num_classes=3"),
    (lambda m: {**m, "pred_semseg": torch.zeros(1, 3, 4, 6)}, "argmax(1)"),
])
def test_bad_inputs_say_what_to_do(change, phrase):
    maps = {"pred_semseg": TRUE_SEMSEG, "pred_instance": TRUE_INSTANCE, "true_semseg": TRUE_SEMSEG,
            "true_instance": TRUE_INSTANCE}
    with pytest.raises(ValueError, match=phrase.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")):
        panoptic_quality(**change(maps), num_classes=3)


def true_centers_and_offsets(instance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A heatmap with 1 at each instance's (rounded) mean pixel and exact offsets to it: [B, 1, H, W], [B, 2, H, W].
    Single-pixel peaks, unlike center_targets' Gaussians (whose tied pixels around a half-pixel centre would all be
    peaks at kernel=1): this tests the grouping alone, on objects two pixels apart."""
    batch, height, width = instance.shape
    heatmap = torch.zeros(batch, 1, height, width)
    offsets = torch.zeros(batch, 2, height, width)
    rows, columns = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    for b in range(batch):
        for k in instance[b].unique():
            if k == 0:
                continue
            inside = instance[b] == k
            cy, cx = rows[inside].float().mean().round(), columns[inside].float().mean().round()
            heatmap[b, 0, int(cy), int(cx)] = 1.0
            offsets[b, 0][inside] = cy - rows[inside]
            offsets[b, 1][inside] = cx - columns[inside]
    return heatmap, offsets


def test_grouping_with_true_centres_and_offsets_recovers_the_instances():
    semseg = TRUE_SEMSEG.repeat(2, 1, 1)
    instance = TRUE_INSTANCE.repeat(2, 1, 1)
    instance[1] = torch.where(instance[1] > 0, 4 - instance[1], 0)    # the second image numbers them otherwise
    heatmap, offsets = true_centers_and_offsets(instance)
    grouped = group_instances(semseg, heatmap, offsets, kernel=1)
    assert panoptic_quality(semseg, grouped, semseg, instance, num_classes=3)["pq"] == 1.0
    assert (grouped[semseg == 0] == 0).all()
    # each pixel joins the centre nearest to its vote: offsets of zero make every pixel vote for itself
    nearest = group_instances(semseg, heatmap, torch.zeros_like(offsets), kernel=1)
    assert nearest[0, 0, 3] == nearest[0, 1, 2]                        # (0, 3) is nearer to the left centre (1, 2)


def test_find_centers_keeps_one_peak_per_window_highest_first():
    heatmap = torch.zeros(1, 1, 8, 8)
    heatmap[0, 0, 2, 2], heatmap[0, 0, 2, 3] = 0.9, 0.8              # neighbours: only the larger survives
    heatmap[0, 0, 6, 6] = 0.95
    heatmap[0, 0, 0, 7] = 0.05                                         # below the threshold
    assert find_centers(heatmap, threshold=0.1, kernel=3)[0].tolist() == [[6, 6], [2, 2]]
    assert find_centers(heatmap, threshold=0.1, kernel=1)[0].tolist() == [[6, 6], [2, 2], [2, 3]]
    assert find_centers(heatmap, threshold=0.1, kernel=3, top_k=1)[0].tolist() == [[6, 6]]
    assert len(find_centers(torch.zeros(1, 1, 8, 8))[0]) == 0


def test_grouping_without_centres_leaves_every_pixel_unassigned_and_bad_shapes_are_refused():
    grouped = group_instances(TRUE_SEMSEG, torch.zeros(1, 1, 4, 6), torch.zeros(1, 2, 4, 6))
    assert (grouped == 0).all()
    with pytest.raises(ValueError, match="both centres and offsets"):
        group_instances(TRUE_SEMSEG, torch.zeros(1, 2, 4, 6), torch.zeros(1, 2, 4, 6))
    with pytest.raises(ValueError, match="dy, dx"):
        group_instances(TRUE_SEMSEG, torch.zeros(1, 1, 4, 6), torch.zeros(1, 1, 4, 6))
    with pytest.raises(ValueError, match="argmax"):
        group_instances(torch.zeros(1, 3, 4, 6), torch.zeros(1, 1, 4, 6), torch.zeros(1, 2, 4, 6))


def test_center_targets_by_hand():
    instance = torch.zeros(1, 5, 6, dtype=torch.long)
    instance[0, 1:4, 1:4] = 7                                          # a 3x3 square: centre (2, 2), on a pixel
    instance[0, 0, 4:6] = 2                                            # two pixels: centre (0, 4.5), between them
    heatmap, offsets = center_targets(instance, sigma=1.0)
    # the peak sits on the centre's nearest pixel (4.5 rounds half up, to 5), so each object has one pixel at 1
    assert heatmap[0, 0, 2, 2] == 1.0 and heatmap[0, 0, 0, 5] == 1.0 and (heatmap == 1.0).sum() == 2
    assert heatmap[0, 0, 0, 4] == pytest.approx(math.exp(-0.5))       # one pixel from the peak, sigma 1
    assert heatmap[0, 0, 4, 0] == pytest.approx(math.exp(-(2 ** 2 + 2 ** 2) / 2))   # nearest peak: (2, 2)
    # offsets point to the exact centre, not the rounded one; background pixels have none (NaN)
    assert offsets[0, :, 1, 1].tolist() == [1.0, 1.0] and offsets[0, :, 3, 2].tolist() == [-1.0, 0.0]
    assert offsets[0, :, 0, 5].tolist() == [0.0, -0.5] and offsets[0, :, 0, 4].tolist() == [0.0, 0.5]
    assert offsets[0, :, 2, 2].tolist() == [0.0, 0.0]                  # the centre pixel itself: a true zero
    assert offsets[:, :, instance[0] == 0].isnan().all() and not offsets[:, :, instance[0] > 0].isnan().any()


def test_instance_centers_are_nan_for_the_background_and_absent_ids():
    instance = torch.zeros(2, 4, 4, dtype=torch.long)
    instance[0, 0, 0] = 3
    instance[1, 2:4, 2:4] = 1
    centers = instance_centers(instance)                               # [B, K = 4, 2]
    assert centers.shape == (2, 4, 2)
    assert centers[0, 3].tolist() == [0.0, 0.0] and centers[1, 1].tolist() == [2.5, 2.5]
    assert centers[:, 0].isnan().all() and centers[0, 1:3].isnan().all() and centers[1, 2:].isnan().all()


def test_center_targets_point_every_object_pixel_at_its_centre_and_grouping_inverts_them():
    scenes = SyntheticScenes(n=16, size=32, seed=1, split="val", cache=False).tensors()
    instance = scenes["instance"]
    heatmap, offsets = center_targets(instance)
    rows, columns = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    for b in range(len(instance)):                                     # several images, many objects
        for k in instance[b].unique().tolist():
            if k == 0:
                continue
            inside = instance[b] == k
            votes = torch.stack([rows[inside] + offsets[b, 0][inside], columns[inside] + offsets[b, 1][inside]])
            centre = torch.tensor([rows[inside].float().mean(), columns[inside].float().mean()])
            assert torch.allclose(votes, centre[:, None].expand_as(votes), atol=1e-4)
    assert offsets.isnan().all(1)[instance == 0].all()
    peaks = heatmap[:, 0] == 1.0                                       # one peak pixel per visible object...
    objects = [len(instance[b].unique()) - 1 for b in range(len(instance))]
    assert [int(p.sum()) for p in peaks] == objects
    assert (instance[peaks.nonzero(as_tuple=True)] >= 0).all()         # ...though a ring's lies in its hole
    grouped = group_instances(scenes["semseg"], heatmap, offsets, kernel=3, threshold=0.5)
    assert panoptic_quality(scenes["semseg"], grouped, scenes["semseg"], instance, num_classes=6)["pq"] > 0.98


def test_center_targets_refuse_a_float_batchless_or_negative_instance_map():
    with pytest.raises(ValueError, match="integer map.*use .long()"):
        center_targets(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"\[B, H, W\].*instance\[None\]"):
        center_targets(torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=">= 0"):
        center_targets(torch.full((1, 4, 4), -1))
    with pytest.raises(TypeError, match="torch.Tensor"):
        center_targets([[0, 1]])

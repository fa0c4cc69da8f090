"""The edge F-score by the BSDS protocol: thinning, one-to-one matching within max_dist, ODS and OIS."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mtl_course.metrics.bsds import (DELETE_FIRST, DELETE_SECOND, MAX_DIST, NEIGHBOURS, THRESHOLDS, _deletable,
                                     bsds_counts, bsds_scores, match_counts, thin)


def line_maps(size: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    truth = torch.zeros(1, 1, size, size)
    truth[0, 0, 24, 4:44] = 1                                # a 1-pixel horizontal line, 40 pixels long
    return truth, truth.clone()


def scores(prob: torch.Tensor, truth: torch.Tensor, **kwargs) -> dict:
    return bsds_scores(bsds_counts(prob, truth, **kwargs))


def test_the_boolean_rules_are_the_deletion_tables_for_all_256_neighbourhoods():
    patches = torch.zeros(256, 3, 3, dtype=torch.bool)
    for code in range(256):
        patches[code, 1, 1] = True
        for bit, (dy, dx) in enumerate(NEIGHBOURS):
            patches[code, 1 + dy, 1 + dx] = bool(code >> bit & 1)
    assert torch.equal(_deletable(patches, second=False)[:, 1, 1], DELETE_FIRST)
    assert torch.equal(_deletable(patches, second=True)[:, 1, 1], DELETE_SECOND)


def test_thinning_equals_scikit_image_thin():
    skimage = pytest.importorskip("skimage.morphology", reason="scikit-image (the dev extra) is the reference")
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(60, 20, 24, generator=gen) > 0.45
    blobs = torch.nn.functional.avg_pool2d(torch.rand(60, 1, 32, 32, generator=gen), 5, 1, 2)[:, 0] > 0.5
    for masks in (noise, blobs):
        expected = torch.stack([torch.from_numpy(skimage.thin(m.numpy())) for m in masks])
        assert torch.equal(thin(masks), expected)


def test_packing_64_maps_to_a_word_thins_each_map_on_its_own():
    """thin packs map 64k + j into bit j of word k (bit 63 is the sign bit): 130 maps fill three words, the last
    partly; each must come out as if thinned alone, whatever its neighbours in the word."""
    gen = torch.Generator().manual_seed(1)
    masks = torch.nn.functional.avg_pool2d(torch.rand(130, 1, 24, 24, generator=gen), 5, 1, 2)[:, 0] > 0.5
    masks[63] = True                                         # the sign bit's map: a full square
    masks[64] = False                                        # an empty map next to it
    alone = torch.stack([thin(m[None])[0] for m in masks])
    assert torch.equal(thin(masks), alone)
    assert alone[63].sum() < masks[63].sum() and not alone[64].any()


def test_a_thick_prediction_of_a_thin_line_thins_back_to_it():
    truth, _ = line_maps()
    thick = torch.zeros_like(truth)
    thick[0, 0, 23:26, 4:44] = 0.9                           # 3 pixels wide
    thinned = thin(thick[:, 0] > 0.5)
    assert thinned.sum() <= 40 and thinned[0, 24].sum() == thinned.sum()    # one line, on the true row
    result = scores(thick, truth)
    assert result["precision"] == 1.0 and result["recall"] == thinned.sum().item() / 40
    # without thinning, two of every three predicted pixels would find no partner: the BSDS point of thinning
    assert match_counts(thick[:, 0] > 0.5, truth[:, 0] > 0.5, radius=1.0).item() == 40
    assert 40 / (3 * 40) < result["precision"]


def test_a_line_shifted_by_one_pixel_matches_only_when_max_dist_allows_one_pixel():
    truth, prob = line_maps()
    shifted = torch.roll(prob, 1, dims=2)
    diagonal = math.hypot(48, 48)
    assert scores(shifted, truth)["f_score"] == 0.0                       # 0.0075 * 67.9 = 0.51 px: exact only
    assert scores(shifted, truth, max_dist=1.0 / diagonal)["f_score"] == 1.0
    dots = torch.zeros(1, 1, 48, 48)
    dots[0, 0, 4:44:4, 4:44:4] = 1                           # isolated true pixels
    diagonal_shift = torch.roll(dots, (1, 1), dims=(2, 3))   # each prediction one down, one right: 1.41 px away
    assert scores(diagonal_shift, dots, max_dist=1.0 / diagonal)["f_score"] == 0.0     # Euclidean, not chessboard
    assert scores(diagonal_shift, dots, max_dist=1.5 / diagonal)["f_score"] == 1.0


def test_matching_is_one_to_one():
    truth = torch.zeros(1, 5, 5, dtype=torch.bool)
    truth[0, 2, 2] = True
    predicted = torch.zeros(1, 5, 5, dtype=torch.bool)
    predicted[0, 2, 1:4] = True                              # three predictions near one true pixel
    assert match_counts(predicted, truth, radius=1.0).item() == 1


def brute_force(pairs: set[tuple[int, int]], n_pred: int) -> int:
    """The largest number of disjoint pairs, by trying every assignment of the predicted pixels."""
    best = 0
    truths = sorted({t for _, t in pairs})
    for choice in itertools.product([None, *truths], repeat=n_pred):
        used = [t for t in choice if t is not None]
        if len(used) == len(set(used)) and all((p, t) in pairs for p, t in enumerate(choice) if t is not None):
            best = max(best, len(used))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_matching_equals_brute_force_on_small_random_maps(seed):
    gen = torch.Generator().manual_seed(seed)
    predicted, truth = torch.zeros(1, 16, dtype=torch.bool), torch.zeros(1, 16, dtype=torch.bool)
    predicted[0, torch.randperm(16, generator=gen)[:6]] = True      # 6 predicted and 7 true pixels on a 4x4 map
    truth[0, torch.randperm(16, generator=gen)[:7]] = True
    predicted, truth = predicted.view(1, 4, 4), truth.view(1, 4, 4)
    radius = [1.0, 1.5][seed % 2]
    p, t = predicted[0].nonzero().tolist(), truth[0].nonzero().tolist()
    pairs = {(i, j) for i, a in enumerate(p) for j, b in enumerate(t)
             if (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 <= radius ** 2}
    assert match_counts(predicted, truth, radius).item() == brute_force(pairs, len(p))


def test_empty_maps():
    truth, prob = line_maps()
    nothing = torch.zeros_like(truth)
    assert scores(nothing, truth)["f_score"] == 0.0                      # nothing predicted: recall 0
    assert all(math.isnan(v) for v in scores(prob, nothing).values())    # nothing to find: no score


def test_ods_sums_images_and_ois_lets_each_image_pick_its_threshold():
    truth = torch.zeros(2, 1, 32, 32)
    truth[:, 0, 16, 4:28] = 1
    prob = torch.zeros(2, 1, 32, 32)
    prob[0, 0, 16, 4:28] = 0.3                               # image 0: right only at thresholds <= 0.3
    prob[0, 0, 8, 4:28] = 0.9                                #   with a confident wrong line
    prob[1, 0, 16, 4:28] = 0.9                               # image 1: right at every threshold
    thresholds = torch.tensor([0.2, 0.5])
    counts = bsds_counts(prob, truth, thresholds=thresholds)
    result = bsds_scores(counts, thresholds)
    # t = 0.2: image 0 has P = 1/2, R = 1; image 1 P = R = 1 -> summed P = 48/72, R = 1 -> F = 0.8
    # t = 0.5: image 0 P = 0, R = 0; image 1 perfect -> summed P = 24/48, R = 24/48 -> F = 0.5
    assert result["f_score"] == pytest.approx(0.8) and result["threshold"] == pytest.approx(0.2)
    assert result["ois"] == pytest.approx(0.8)                           # both images are best at 0.2 here
    assert counts[-1].tolist() == counts[0].tolist()


def test_counts_add_up_over_batches():
    gen = torch.Generator().manual_seed(3)
    truth = (torch.rand(4, 1, 32, 32, generator=gen) > 0.9).float()
    prob = torch.rand(4, 1, 32, 32, generator=gen)
    assert torch.equal(bsds_counts(prob, truth), bsds_counts(prob[:1], truth[:1]) + bsds_counts(prob[1:], truth[1:]))


def test_a_single_predicted_pixel_on_a_true_pixel_is_one_match():
    truth = torch.zeros(2, 6, 6, dtype=torch.bool)
    truth[:, 3, 3] = True
    predicted = torch.zeros(2, 6, 6, dtype=torch.bool)
    predicted[0, 3, 3] = True                                # image 0: one right pixel; image 1: none
    assert match_counts(predicted, truth, radius=0.5).tolist() == [1, 0]


def test_low_scores_are_exact_and_ods_can_be_at_a_later_threshold():
    truth = torch.zeros(1, 1, 32, 32)
    truth[0, 0, 8, 4:28] = 1                                 # 24 true pixels
    prob = torch.zeros(1, 1, 32, 32)
    prob[0, 0, 8, 4:10] = 0.9                                # 6 right at every threshold
    prob[0, 0, 20, 4:22] = 0.3                               # 18 wrong, only at the low threshold
    thresholds = torch.tensor([0.2, 0.5])
    result = bsds_scores(bsds_counts(prob, truth, thresholds=thresholds), thresholds)
    # t = 0.2: P = 6 / 24, R = 6 / 24, F = 0.25; t = 0.5: P = 1, R = 0.25, F = 0.4
    assert result["threshold"] == pytest.approx(0.5) and result["f_score"] == pytest.approx(0.4)
    low = bsds_scores(bsds_counts(prob, truth, thresholds=thresholds[:1]), thresholds[:1])
    assert low["f_score"] == pytest.approx(0.25) and low["precision"] == low["recall"] == 0.25


def test_the_bsds_defaults():
    assert MAX_DIST == 0.0075                                # BSDS's maxDist
    assert len(THRESHOLDS) == 50
    assert THRESHOLDS[0].item() == pytest.approx(0.01) and THRESHOLDS[-1].item() == pytest.approx(0.99)
    truth = torch.zeros(1, 1, 96, 96)                        # 0.0075 * 135.8 = 1.02 px: a 1-pixel shift matches
    truth[0, 0, 40, 10:80] = 1
    assert bsds_scores(bsds_counts(torch.roll(truth, 1, dims=2), truth))["f_score"] == 1.0


def test_a_probability_equal_to_the_threshold_is_an_edge():
    truth, prob = line_maps()
    at_threshold = prob * 0.5                                # exactly 0.5 on the line
    result = bsds_scores(bsds_counts(at_threshold, truth, thresholds=torch.tensor([0.5])), torch.tensor([0.5]))
    assert result["f_score"] == 1.0


def test_one_predicted_pixel_gives_precision_one():
    truth = torch.zeros(1, 1, 32, 32)
    truth[0, 0, 10, 10:12] = 1                               # two true pixels
    prob = torch.zeros(1, 1, 32, 32)
    prob[0, 0, 10, 10] = 0.9                                 # one predicted, on one of them
    result = scores(prob, truth)
    assert (result["precision"], result["recall"]) == (1.0, 0.5) and result["f_score"] == pytest.approx(2 / 3)

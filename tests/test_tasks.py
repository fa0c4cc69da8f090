import math

import pytest
import torch
import torch.nn.functional as F

from mtl_course.tasks import TASKS, get_task


def test_semseg_loss_is_cross_entropy_and_ignores_255():
    task = get_task("semseg", num_classes=3)
    logits = torch.zeros(1, 3, 1, 2)
    logits[0, :, 0, 0] = torch.tensor([2.0, 0.0, 0.0])
    target = torch.tensor([[[0, 255]]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))      # only the first pixel counts
    assert task.loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_depth_loss_is_l1_on_valid_pixels():
    task = get_task("depth")
    pred = torch.tensor([2.0, 5.0, 9.0]).view(1, 1, 1, 3)
    target = torch.tensor([1.0, 0.0, 6.0]).view(1, 1, 1, 3)
    assert task.loss(pred, target).item() == pytest.approx((1 + 3) / 2)


def test_depth_l2_loss_is_the_mean_squared_error_on_valid_pixels():
    task = get_task("depth", key="other", loss="l2")
    pred = torch.tensor([2.0, 5.0, 9.0]).view(1, 1, 1, 3)
    target = torch.tensor([1.0, 0.0, 6.0]).view(1, 1, 1, 3)
    assert task.loss(pred, target).item() == pytest.approx((1 + 9) / 2)
    assert task.spec() == {"name": "depth", "initial_depth": 5.0, "loss": "l2", "key": "other"}
    assert get_task(**task.spec()).loss(pred, target).item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match=r"unknown depth loss 'l3'; valid losses are \['l1', 'l2'\]"):
        get_task("depth", loss="l3")


def test_edge_loss_weights_each_class_by_the_other_ones_frequency():
    task = get_task("edges")
    logits = torch.tensor([0.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2)    # 1 edge pixel of 4
    # every pixel has BCE log 2; edge weight 3/4, others 1/4 -> mean weight (3/4 + 3 * 1/4) / 4
    expected = 2 * math.log(2) * (0.75 + 3 * 0.25) / 4
    assert task.loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_normals_loss_zero_when_aligned_two_when_opposite():
    task = get_task("normals")
    target = F.normalize(torch.randn(2, 3, 4, 4), dim=1)
    assert task.loss(3 * target, target).item() == pytest.approx(0, abs=1e-6)
    assert task.loss(-target, target).item() == pytest.approx(2, abs=1e-6)


def test_labels_loss_is_bce_with_logits():
    task = get_task("labels", num_classes=4)
    logits, target = torch.randn(5, 3), torch.randint(0, 2, (5, 3)).float()
    assert task.loss(logits, target).item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, target).item())


def test_directions_and_primary_metrics():
    assert {n: (get_task(n, **({"num_classes": 3} if n in ("semseg", "labels") else {})).higher_is_better)
            for n in TASKS} == {"semseg": True, "depth": False, "edges": True, "normals": False, "labels": True,
                                "centers": True, "offsets": False, "consistency": False}


@pytest.mark.parametrize("name, kwargs, output, target", [
    ("semseg", {"num_classes": 3}, (2, 3, 8, 8), (2, 8, 7)),
    ("semseg", {"num_classes": 3}, (2, 4, 8, 8), (2, 8, 8)),
    ("depth", {}, (2, 1, 8, 8), (2, 8, 8)),
    ("edges", {}, (2, 1, 8, 8), (2, 1, 4, 4)),
    ("normals", {}, (2, 1, 8, 8), (2, 3, 8, 8)),
    ("labels", {"num_classes": 4}, (2, 3), (2, 4)),
    ("centers", {}, (2, 1, 8, 8), (2, 8, 8)),
    ("offsets", {}, (2, 2, 8, 8), (2, 1, 8, 8)),
])
def test_shape_mismatch_names_task_and_shapes(name, kwargs, output, target):
    task = get_task(name, **kwargs)
    target_tensor = torch.zeros(target, dtype=torch.long if name == "semseg" else torch.float32)
    with pytest.raises(ValueError, match=name) as err:
        task.loss(torch.zeros(output), target_tensor)
    assert str(tuple(output)) in str(err.value) or str(tuple(target)) in str(err.value)


def test_semseg_class_id_out_of_range():
    task = get_task("semseg", num_classes=5)
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, 0, 0] = 7
    with pytest.raises(ValueError, match=r"class id 7 but the model predicts 5 classes \(0..4\); pass num_classes=8"):
        task.loss(torch.zeros(1, 5, 4, 4), target)


def test_unknown_task_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown task 'depht'; valid tasks are \['centers', 'consistency', 'depth', 'edges'"):
        get_task("depht")


def test_missing_num_classes_says_how_to_fix():
    with pytest.raises(TypeError, match="num_classes=len"):
        get_task("semseg")


def test_key_renames_output_and_target_and_survives_the_spec():
    task = get_task("semseg", num_classes=4, key="other_labels")
    assert (task.name, task.target, task.kind) == ("other_labels", "other_labels", "semseg")
    assert task.spec() == {"name": "semseg", "num_classes": 4, "key": "other_labels"}
    rebuilt = get_task(**task.spec())
    assert (rebuilt.name, rebuilt.num_classes) == ("other_labels", 4)
    assert get_task("semseg", num_classes=4).name == "semseg"      # the class attribute is untouched


def test_class_weights_scale_each_pixels_cross_entropy_and_survive_the_spec():
    import torch.nn.functional as F
    from mtl_course.tasks import balanced_class_weights
    logits = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 255, 0]).repeat(2, 4, 1)            # [2, 4, 5], void pixels included
    weighted = get_task("semseg", num_classes=3, class_weights=[1.0, 2.0, 0.5])
    per_pixel = F.cross_entropy(logits, target, ignore_index=255, reduction="none")
    w = torch.tensor([1.0, 2.0, 0.5, 0.0])[torch.where(target == 255, 3, target)]
    assert weighted.loss(logits, target).item() == pytest.approx(float((w * per_pixel).sum() / w.sum()), rel=1e-6)
    assert get_task(**weighted.spec()).class_weights == [1.0, 2.0, 0.5]
    masks = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 255]])                 # class 0: 6 px, class 1: 2 px, class 2: none
    assert balanced_class_weights(masks, 3) == pytest.approx([1 / 3, 1.0, 0.0])     # median share 2/8 (the lower)
    for bad in ([1.0, 2.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [1.0, float("nan"), 1.0]):
        with pytest.raises(ValueError, match="one per class"):
            get_task("semseg", num_classes=3, class_weights=bad)
    with pytest.raises(ValueError, match="outside 0..2"):
        balanced_class_weights(torch.tensor([[0, 3]]), 3)

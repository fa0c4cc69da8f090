import numpy as np
import pytest
import torch

from mtl_course.data import CLASSES, SyntheticScenes
from mtl_course.data import synthetic
from mtl_course.data.render import WALL_DEPTH, layers


def identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    """torch.equal, with NaN equal to NaN (the offsets are NaN off the objects)."""
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(0), b.nan_to_num(0))


def test_sample_keys_dtypes_shapes_and_ranges(scenes):
    sample = scenes[0]
    expected = {"image": (torch.float32, (3, 32, 32)), "semseg": (torch.int64, (32, 32)),
                "depth": (torch.float32, (1, 32, 32)), "edges": (torch.float32, (1, 32, 32)),
                "normals": (torch.float32, (3, 32, 32)), "instance": (torch.int64, (32, 32)),
                "centers": (torch.float32, (1, 32, 32)), "offsets": (torch.float32, (2, 32, 32)),
                "labels": (torch.float32, (len(CLASSES) - 1,))}
    for key, (dtype, shape) in expected.items():
        assert sample[key].dtype == dtype, key
        assert tuple(sample[key].shape) == shape, key
    assert 0 <= sample["image"].min() and sample["image"].max() <= 1
    assert set(sample) == set(expected)
    assert scenes.classes == CLASSES and len(scenes) == 24


def test_tensors_stacks_the_same_samples(scenes, batch):
    for i in (0, 7, 23):
        for key, value in scenes[i].items():
            assert identical(batch[key][i], value), key


def test_depth_positive_and_normals_unit(batch):
    assert (batch["depth"] > 0).all()
    assert batch["depth"].max() <= WALL_DEPTH + 0.01
    assert torch.allclose(batch["normals"].norm(dim=1), torch.ones(1), atol=1e-5)


def test_edges_are_exactly_the_instance_boundaries(batch):
    inst = batch["instance"].numpy()
    expected = np.zeros_like(inst, dtype=bool)
    n, h, w = inst.shape
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):       # independent re-computation, 4-neighbours
        shifted = np.full_like(inst, -1)
        ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
        xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        shifted[:, yd, xd] = inst[:, ys, xs]
        expected |= (shifted != -1) & (shifted != inst)
    assert np.array_equal(batch["edges"][:, 0].numpy().astype(bool), expected)
    # and semantic boundaries are among them: where the class changes, there is an edge
    sem = batch["semseg"]
    change = sem[:, :, 1:] != sem[:, :, :-1]
    assert batch["edges"][:, 0, :, 1:][change].all()


def test_labels_are_the_classes_present_in_semseg(batch):
    for semseg, labels in zip(batch["semseg"], batch["labels"]):
        present = {int(c) for c in semseg.unique()} - {0}
        assert {i + 1 for i in range(len(labels)) if labels[i] == 1} == present


def test_each_instance_has_one_class_and_background_is_instance_zero(batch):
    for semseg, instance in zip(batch["semseg"], batch["instance"]):
        assert torch.equal(semseg == 0, instance == 0)
        for k in instance.unique().tolist():
            assert len(semseg[instance == k].unique()) == 1


def test_visible_surface_is_the_nearest_one(scenes, batch):
    """Occlusion agrees with depth: the rendered depth is the minimum over all surfaces at each
    pixel, and the visible instance is the one whose surface attains it."""
    surfaces = layers(scenes.scenes(), scenes.size)
    stack = torch.cat([surfaces["bg_depth"].unsqueeze(1), surfaces["obj_depth"]], dim=1)
    nearest, which = stack.min(dim=1)
    assert torch.allclose(batch["depth"][:, 0], nearest.half().float())
    assert torch.equal(batch["instance"], which)
    covered = torch.isfinite(surfaces["obj_depth"]).sum(1)
    assert (covered >= 2).any(), "the fixture should contain overlapping objects"


def test_perspective_farther_objects_are_smaller_and_higher(scenes):
    params = scenes.scenes()
    surfaces = layers(params, scenes.size)
    covered = torch.isfinite(surfaces["obj_depth"])
    rows = torch.arange(scenes.size).view(1, 1, -1, 1).expand_as(covered)
    area = covered.sum((2, 3)).float()
    foot = torch.where(covered, rows, -1).amax((2, 3)).float()
    sel = params["present"] & (area > 0)
    # feet rise towards the horizon as z grows
    corr_foot = np.corrcoef(params["depth"][sel].numpy(), foot[sel].numpy())[0, 1]
    assert corr_foot < -0.9
    # within one shape class, the projected width follows half / z
    for cls in range(1, len(CLASSES)):
        one = sel & (params["cls"] == cls)
        if one.sum() >= 5:
            ratio = (params["half"][one] / params["depth"][one]).numpy()
            assert np.corrcoef(ratio, area[one].sqrt().numpy())[0, 1] > 0.9, CLASSES[cls]


def test_same_arguments_same_tensors_other_seed_other_scenes():
    a = SyntheticScenes(n=6, size=32, seed=1, cache=False).tensors()
    b = SyntheticScenes(n=6, size=32, seed=1, cache=False).tensors()
    c = SyntheticScenes(n=6, size=32, seed=2, cache=False).tensors()
    v = SyntheticScenes(n=6, size=32, seed=1, split="val", cache=False).tensors()
    for key in a:
        assert identical(a[key], b[key]), key
    assert not torch.equal(a["image"], c["image"])
    assert not torch.equal(a["image"], v["image"])


def test_smaller_n_is_a_prefix_across_chunks():
    small = SyntheticScenes(n=5, size=32, cache=False).tensors()
    large = SyntheticScenes(n=synthetic.CHUNK + 3, size=32, cache=False).tensors()
    for key in small:
        assert identical(small[key], large[key][:5]), key


def test_domains_differ_in_appearance_not_in_labels_layout():
    source = SyntheticScenes(n=32, size=32, domain="source", cache=False).tensors()
    target = SyntheticScenes(n=32, size=32, domain="target", cache=False).tensors()
    background = source["semseg"] == 0
    # the source room is grey: background pixels have (almost) equal RGB channels
    src_bg = source["image"].permute(0, 2, 3, 1)[background]
    tgt_bg = target["image"].permute(0, 2, 3, 1)[target["semseg"] == 0]
    assert src_bg.std(dim=1).mean() < 0.02 < tgt_bg.std(dim=1).mean()


def test_cache_roundtrip_and_corruption_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_COURSE_CACHE", str(tmp_path))
    fresh = SyntheticScenes(n=4, size=32, seed=9)
    path = fresh.cache_path()
    assert path.is_file() and path.parent == tmp_path
    again = SyntheticScenes(n=4, size=32, seed=9)
    assert torch.equal(again.tensors()["image"], fresh.tensors()["image"])

    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])                      # truncated
    with pytest.warns(UserWarning, match="SHA-256"):
        healed = SyntheticScenes(n=4, size=32, seed=9)
    assert torch.equal(healed.tensors()["depth"], fresh.tensors()["depth"])
    assert path.read_bytes() == data                              # rewritten whole

    edited = bytearray(data)
    edited[-100] ^= 0xFF                                          # one flipped byte
    path.write_bytes(bytes(edited))
    with pytest.warns(UserWarning, match="modified"):
        healed = SyntheticScenes(n=4, size=32, seed=9)
    assert torch.equal(healed.tensors()["normals"], fresh.tensors()["normals"])


@pytest.mark.parametrize("kwargs, phrase", [
    ({"size": 40}, "multiple of 16"), ({"size": 16}, "at least 32"), ({"n": 0}, "positive integer"),
    ({"split": "training"}, "split must be one of"), ({"domain": "real"}, "domain must be one of"),
])
def test_bad_arguments_raise_clear_errors(kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        SyntheticScenes(**{"n": 2, "size": 32, "cache": False, **kwargs})


def test_index_out_of_range(scenes):
    with pytest.raises(IndexError, match="out of range"):
        scenes[24]


def test_centres_and_offsets_are_derived_from_the_instance_map(batch):
    from mtl_course.data import center_targets
    heatmap, offsets = center_targets(batch["instance"])
    assert torch.equal(batch["centers"], heatmap)
    assert torch.equal(batch["offsets"].isnan(), (batch["instance"] == 0)[:, None].expand(-1, 2, -1, -1))
    assert torch.equal(batch["offsets"].nan_to_num(0), offsets.nan_to_num(0))


def test_pad_and_resize_to_multiples_of_16_keep_images_and_label_maps_aligned():
    from mtl_course.data import pad_to_multiple, resize_to_multiple
    image = torch.rand(3, 45, 70)
    mask = torch.randint(0, 11, (45, 70))
    depth = torch.rand(1, 45, 70) + 1
    padded, padded_mask, padded_depth = pad_to_multiple(image, mask, depth)
    assert padded.shape == (3, 48, 80) and padded_mask.shape == (48, 80) and padded_depth.shape == (1, 48, 80)
    assert torch.equal(padded[:, :45, :70], image) and padded[:, 45:].abs().sum() == 0
    assert torch.equal(padded_mask[:45, :70], mask) and (padded_mask[45:] == 255).all() and (padded_mask[:, 70:] == 255).all()
    assert (padded_depth[:, :, 70:] == 0).all()                          # float maps: 0 = no measurement
    small, = pad_to_multiple(torch.rand(2, 3, 20, 33))
    assert small.shape == (2, 3, 32, 48)                                 # at least 32
    frame = torch.rand(3, 360, 480)
    labels = torch.zeros(360, 480, dtype=torch.long)
    labels[:, 240:] = 11                                                 # right half: class 11 (void in some sets)
    resized, resized_labels = resize_to_multiple(frame, labels)
    assert resized.shape == (3, 352, 480) and resized_labels.shape == (352, 480)
    assert resized_labels.dtype == torch.long and set(resized_labels.unique().tolist()) == {0, 11}   # no blends
    assert (resized_labels[:, :240] == 0).all() and (resized_labels[:, 240:] == 11).all()            # aligned
    with pytest.raises(ValueError, match="does not match the image"):
        pad_to_multiple(image, mask[:40])

"""load_dataset on the real on-disk formats (written by tests/formats.py), read through torchvision's own classes."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.transforms import v2

import formats
from mtl_course.data import FolderDataset, load_dataset, write_folder
from mtl_course.data import load as load_module
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import evaluate, fit

CAMVID = ["sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian", "cyclist"]


def camvid_folder(root: Path, n: int = 3, height: int = 36, width: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """train/ + trainannot/ with CamVid's ids: 0..10 classes, 11 = void; a red box of class 8 (car) per image."""
    (root / "train").mkdir(parents=True)
    (root / "trainannot").mkdir(parents=True)
    images, masks = [], []
    for i in range(n):
        box = formats.box_of(i, height, width)
        image = formats.scene(height, width, box, i)
        mask = np.full((height, width), 3, np.uint8)       # road
        mask[:6] = 0                                       # sky
        mask[box[0]:box[2], box[1]:box[3]] = 8             # the car: where the image is red
        mask[-2:] = 11                                     # void
        mask[0, 0] = 10                                    # one cyclist pixel: the last class id
        Image.fromarray(image).save(root / "train" / f"0001TP_{i:06d}.png")
        Image.fromarray(mask).save(root / "trainannot" / f"0001TP_{i:06d}.png")
        images.append(torch.from_numpy(image).permute(2, 0, 1))
        masks.append(torch.from_numpy(mask.astype(np.int64)))
    return torch.stack(images), torch.stack(masks)


def red_where_object(sample: dict, object_class: int) -> tuple[float, float]:
    """Mean red (channel 0 minus green) inside and outside the object's pixels."""
    redness = sample["image"][0] - sample["image"][1]
    inside = sample["semseg"] == object_class
    return float(redness[inside].mean()), float(redness[~inside & (sample["semseg"] != 255)].mean())


# ----- folder datasets -------------------------------------------------------------------------------------------
def test_folder_split_annot_layout_maps_void_and_keeps_class_ids(tmp_path):
    images, masks = camvid_folder(tmp_path)
    ds = load_dataset("folder", tmp_path, split="train", classes=CAMVID, void=11)
    assert len(ds) == 3 and ds.classes == CAMVID
    sample = ds[1]
    expected = masks[1].masked_fill(masks[1] == 11, 255)
    assert torch.equal(sample["semseg"], expected)                       # 11 -> 255, 0..10 unchanged (10 too)
    assert torch.equal(sample["image"], images[1].float() / 255)         # PNG: exact
    assert sample["labels"].shape == (10,) and sample["labels"][7] == 1 and sample["labels"][9] == 1   # car, cyclist
    assert sample["labels"][0] == 0                                      # class 1 (building) is absent
    # edges: on both sides of every class change, void counting as a region
    semseg = expected
    assert sample["edges"][0, 5, 40] == 1 and sample["edges"][0, 6, 40] == 1 and sample["edges"][0, 4, 40] == 0
    assert sample["edges"].shape == (1, 36, 48) and sample["edges"][0, -3, 20] == 1 and semseg[-3, 20] == 3


def test_folder_images_masks_layout_palette_pngs_are_read_as_indices(tmp_path):
    images = torch.rand(4, 3, 32, 48)
    masks = torch.randint(0, 3, (4, 32, 48))
    masks[:, :2] = 255
    write_folder(images, masks, tmp_path, split="val", palette=[(0, 0, 0), (255, 0, 0), (0, 0, 255)])
    assert Image.open(tmp_path / "masks" / "val" / "0002.png").mode == "P"
    ds = load_dataset("folder", tmp_path, split="val", classes=["bg", "a", "b"])
    assert torch.equal(ds[2]["semseg"], masks[2])                        # indices, not grey levels of the colours
    assert (ds[2]["image"] - images[2]).abs().max() <= 0.5 / 255 + 1e-6
    flat = tmp_path / "flat"
    write_folder(images[:2], masks[:2], flat, split=None)
    plain = load_dataset("folder", flat, split=None)                     # images/ + masks/, no split folder
    assert plain.classes == ["class 0", "class 1", "class 2"] and torch.equal(plain[1]["semseg"], masks[1])


def test_folder_binary_masks_with_mapping(tmp_path):
    masks = torch.zeros(2, 32, 32, dtype=torch.long)
    masks[:, 8:20, 8:20] = 255                                           # "lesion" stored as 255
    write_folder(torch.rand(2, 3, 32, 32), masks, tmp_path)
    wrong = load_dataset("folder", tmp_path)                             # default void=255: the lesion is void
    assert (wrong[0]["semseg"] == 255).sum() == 144
    ds = load_dataset("folder", tmp_path, classes=["background", "lesion"], void=None, mapping={255: 1})
    assert (ds[0]["semseg"] == 1).sum() == 144 and (ds[0]["semseg"] == 0).sum() == 32 * 32 - 144


def test_resize_keeps_ids_and_transforms_move_image_and_mask_together(tmp_path):
    camvid_folder(tmp_path)
    resized = load_dataset("folder", tmp_path, classes=CAMVID, void=11, size=(32, 64))[0]
    assert resized["image"].shape == (3, 32, 64) and resized["semseg"].shape == (32, 64)
    assert set(resized["semseg"].unique().tolist()) <= {0, 3, 8, 10, 255}   # nearest: no blended ids
    plain = load_dataset("folder", tmp_path, classes=CAMVID, void=11)[0]
    flip = load_dataset("folder", tmp_path, classes=CAMVID, void=11, transforms=v2.RandomHorizontalFlip(p=1.0))
    flipped = flip[0]
    assert torch.equal(flipped["semseg"], plain["semseg"].flip(-1))
    assert torch.equal(flipped["image"], plain["image"].flip(-1)) and torch.equal(flipped["edges"],
                                                                                  plain["edges"].flip(-1))
    assert flip.stackable is False                                       # random transforms: read every epoch
    crop = load_dataset("folder", tmp_path, classes=CAMVID, void=11,
                        transforms=v2.Compose([v2.RandomRotation(15), v2.RandomResizedCrop((48, 48), (0.5, 1.0))]))
    for seed in range(5):
        torch.manual_seed(seed)
        inside, outside = red_where_object(crop[seed % 3], 8)
        assert inside > 0.6 and outside < 0.2                            # the red box is where the car label is


def test_folder_errors_name_the_file(tmp_path):
    camvid_folder(tmp_path)
    with pytest.raises(ValueError, match="label 11, which is no class id"):
        load_dataset("folder", tmp_path, classes=CAMVID)[0]              # void not given: 11 is not a class
    with pytest.raises(ValueError, match="void=3 is also a class id"):
        load_dataset("folder", tmp_path, classes=CAMVID, void=3)
    (tmp_path / "trainannot" / "0001TP_000001.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"have no mask, e\.g\. .*0001TP_000001\.png"):
        load_dataset("folder", tmp_path, classes=CAMVID, void=11)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "trainannot" / "0001TP_000001.png")
    with pytest.raises(ValueError, match=r"trainannot/0001TP_000001\.png is \(20, 20\).*0001TP_000001\.png is "
                                         r"\(36, 48\)"):
        load_dataset("folder", tmp_path, classes=CAMVID, void=11)[1]
    (tmp_path / "train" / "0001TP_000002.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"cannot read the image .*0001TP_000002\.png"):
        load_dataset("folder", tmp_path, classes=CAMVID, void=11)[2]
    colour_mask = (np.zeros((36, 48, 3)) + [0, 9, 200]).astype(np.uint8)
    Image.fromarray(colour_mask).save(tmp_path / "trainannot" / "0001TP_000000.png")
    with pytest.raises(ValueError, match=r"0001TP_000000\.png is a colour \(RGB\) image"):
        load_dataset("folder", tmp_path, classes=CAMVID, void=11)[0]
    with pytest.raises(FileNotFoundError, match=r"expected images/val/ \+ masks/val/ or val/ \+ valannot/"):
        load_dataset("folder", tmp_path, split="val")
    with pytest.raises(ValueError, match="multiples of 16"):
        load_dataset("folder", tmp_path, classes=CAMVID, void=11, size=(36, 48))


def test_samples_of_different_sizes_ask_for_a_size(tmp_path):
    write_folder(torch.rand(1, 3, 32, 32), torch.zeros(1, 32, 32, dtype=torch.long), tmp_path)
    write_folder(torch.rand(1, 3, 48, 32), torch.zeros(1, 48, 32, dtype=torch.long), tmp_path / "other")
    (tmp_path / "other" / "images" / "train" / "0000.png").rename(tmp_path / "images" / "train" / "0001.png")
    (tmp_path / "other" / "masks" / "train" / "0000.png").rename(tmp_path / "masks" / "train" / "0001.png")
    ds = load_dataset("folder", tmp_path, classes=["a", "b"])
    model = build_model([get_task("semseg", num_classes=2)], seed=0)
    with pytest.raises(ValueError, match=r"different shapes.*size=\(H, W\)"):
        evaluate(model, [get_task("semseg", num_classes=2)], ds)


# ----- torchvision's classes on their own layouts ----------------------------------------------------------------
def test_oxford_pets_through_torchvision(tmp_path):
    formats.write_pets(tmp_path)
    ds = load_dataset("oxford_pets", tmp_path, split="trainval", size=48)
    assert isinstance(ds.source, torchvision.datasets.OxfordIIITPet) and len(ds) == 3
    assert ds.classes == ["background", "cat", "dog"]
    cat, dog = load_dataset("oxford_pets", tmp_path, split="trainval")[0], load_dataset("oxford_pets", tmp_path,
                                                                                        split="trainval")[1]
    assert set(cat["semseg"].unique().tolist()) == {0, 1, 255} and set(dog["semseg"].unique().tolist()) == {0, 2, 255}
    assert cat["labels"].tolist() == [1.0, 0.0] and dog["labels"].tolist() == [0.0, 1.0]
    top, left, bottom, right = formats.box_of(0, 40, 56)
    assert (cat["semseg"][top - 1, left - 1:right + 1] == 255).all()     # the trimap's border band is void
    assert (cat["semseg"][top:bottom, left:right] == 1).all()
    inside, outside = red_where_object(cat, 1)
    assert inside > 0.6 and outside < 0.2
    assert len(load_dataset("oxford_pets", tmp_path, split="test")) == 3


def test_voc_through_torchvision_keeps_palette_indices_and_void(tmp_path):
    formats.write_voc(tmp_path)
    ds = load_dataset("voc", tmp_path, split="val")
    assert isinstance(ds.source, torchvision.datasets.VOCSegmentation) and len(ds) == 3 and len(ds.classes) == 21
    sample = ds[0]
    assert set(sample["semseg"].unique().tolist()) == {0, 7, 15, 255}
    assert ds.classes[15] == "person" and ds.classes[7] == "car"
    labels = sample["labels"].nonzero().flatten() + 1
    assert labels.tolist() == [7, 15]
    assert red_where_object(sample, 15)[0] > 0.6
    assert len(load_dataset("voc", tmp_path, split="trainval", size=32)) == 6


def test_cityscapes_through_torchvision_train_ids_and_instances(tmp_path):
    formats.write_cityscapes(tmp_path)
    ds = load_dataset("cityscapes", tmp_path, split="train")
    assert isinstance(ds.source, torchvision.datasets.Cityscapes) and len(ds) == 2 and len(ds.classes) == 19
    assert ds.classes[0] == "road" and ds.classes[13] == "car" and ds.classes[10] == "sky"
    s = ds[0]
    assert s["semseg"][-1, 20] == 0 and s["semseg"][0, 20] == 10          # road 7 -> 0, sky 23 -> 10
    assert (s["semseg"][:, :2] == 255).all() and (s["semseg"][:, -2:] == 255).all()   # unlabeled, parking: void
    top, left, bottom, right = formats.box_of(0, 32, 64)
    middle = (left + right) // 2
    assert (s["semseg"][top:bottom, left:right] == 13).all()
    assert s["instance"].unique().tolist() == [0, 1, 2, 3]                # person, two cars
    assert s["instance"][top, left] != s["instance"][top, right - 1]
    assert s["edges"][0, top + 2, middle] == 1 and s["edges"][0, top + 2, middle - 1] == 1   # car meets car
    assert s["edges"][0, top + 2, middle + 2] == 0


def test_missing_datasets_say_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"VOCdevkit/VOC2012.*download=True"):
        load_dataset("voc", tmp_path, split="train")
    with pytest.raises(FileNotFoundError, match=r"oxford-iiit-pet/images.*download=True"):
        load_dataset("oxford_pets", tmp_path, split="trainval")
    with pytest.raises(FileNotFoundError, match=r"leftImg8bit/train"):
        load_dataset("cityscapes", tmp_path, split="train")
    with pytest.raises(ValueError, match="cannot be downloaded automatically"):
        load_dataset("cityscapes", tmp_path, split="train", download=True)
    with pytest.raises(ValueError, match=r"splits \['trainval', 'test'\]"):
        load_dataset("oxford_pets", tmp_path, split="train")
    with pytest.raises(ValueError, match="unknown dataset 'coco'"):
        load_dataset("coco", tmp_path)


def test_a_download_that_gets_no_answer_fails_in_time(tmp_path, monkeypatch):
    """A server that accepts the connection and never answers: the download gives up after DOWNLOAD_TIMEOUT."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    port = server.getsockname()[1]
    monkeypatch.setattr(load_module, "DOWNLOAD_TIMEOUT", 1)
    monkeypatch.setattr(torchvision.datasets.OxfordIIITPet, "_RESOURCES",
                        ((f"http://127.0.0.1:{port}/images.tar.gz", "0" * 32),))
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"downloading oxford_pets failed.*robots\.ox\.ac\.uk"):
        load_dataset("oxford_pets", tmp_path, split="trainval", download=True)
    assert time.perf_counter() - start < 30
    server.close()


# ----- training on them -------------------------------------------------------------------------------------------
def test_fit_trains_on_a_folder_dataset_stacked_or_streamed(tmp_path):
    camvid_folder(tmp_path, n=6)
    tasks = [get_task("semseg", num_classes=11), get_task("edges"), get_task("labels", num_classes=11)]
    fixed = load_dataset("folder", tmp_path, classes=CAMVID, void=11, size=32)
    model = build_model(tasks, seed=0)
    history = fit(model, tasks, fixed, fixed, epochs=2, batch_size=3, progress=False)
    assert len(history.epochs) == 2 and 0 <= history.final()["semseg"]["miou"] <= 1
    flipping = FolderDataset(tmp_path, classes=CAMVID, void=11, size=32, transforms=v2.RandomHorizontalFlip())
    history = fit(build_model(tasks, seed=0), tasks, flipping, fixed, epochs=1, batch_size=3, progress=False)
    assert len(history.epochs) == 1
    from mtl_course.viz import show_predictions
    figure = show_predictions(model, tasks, fixed, indices=[4, 1], classes=CAMVID)   # a dataset, not a dict
    image_axes = [ax for ax in figure.axes if ax.get_images()]
    assert len(image_axes) == 2 * 5                      # 2 rows: image, semseg target/prediction, edges target/prediction
    shown = image_axes[0].get_images()[0].get_array()
    assert np.allclose(shown, fixed[4]["image"].permute(1, 2, 0).numpy())


def test_write_folder_layouts(tmp_path):
    masks = torch.randint(0, 3, (2, 32, 32))
    write_folder(torch.rand(2, 3, 32, 32), masks, tmp_path, split="val", layout="annot")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val", "valannot"]
    assert torch.equal(load_dataset("folder", tmp_path, split="val")[1]["semseg"], masks[1])
    with pytest.raises(ValueError, match="layout must be"):
        write_folder(torch.rand(2, 3, 32, 32), masks, tmp_path, split=None, layout="annot")


# ----- what real data asks of fit and evaluate ---------------------------------------------------------------------
def test_tuple_samples_with_keys(scenes):
    data = scenes.tensors()
    task = get_task("semseg", num_classes=6)
    pairs = torch.utils.data.TensorDataset(data["image"], data["semseg"])
    as_dict = evaluate(build_model([task], seed=0), [task], data)
    assert evaluate(build_model([task], seed=0), [task], pairs, keys=("image", "semseg")) == as_dict

    class Pairs(torch.utils.data.Dataset):                       # a dataset of (image, mask) tuples
        def __len__(self):
            return len(data["image"])

        def __getitem__(self, i):
            return data["image"][i], data["semseg"][i]

    assert evaluate(build_model([task], seed=0), [task], Pairs(), keys=("image", "semseg")) == as_dict
    history = fit(build_model([task], seed=0), [task], pairs, Pairs(), epochs=1, batch_size=8, keys=("image", "semseg"),
                  progress=False)
    assert len(history.val_metrics["semseg"]["miou"]) == 1
    with pytest.raises(ValueError, match=r"names 3 tensors but the TensorDataset holds 2"):
        evaluate(build_model([task], seed=0), [task], pairs, keys=("image", "semseg", "depth"))
    with pytest.raises(TypeError, match=r"keys=\('image', 'semseg'\)"):
        evaluate(build_model([task], seed=0), [task], Pairs())


def test_balanced_class_weights_are_computed_by_fit(scenes):
    data = scenes.tensors()
    task = get_task("semseg", num_classes=6, class_weights="balanced")
    with pytest.raises(ValueError, match="computed by fit"):
        task.loss(torch.zeros(1, 6, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
    fit(build_model([task], seed=0), [task], data, epochs=1, batch_size=8, progress=False)
    from mtl_course.tasks import balanced_class_weights
    assert task.class_weights == balanced_class_weights(data["semseg"], 6)
    assert task.class_weights[0] < 1 < max(task.class_weights)          # background (the commonest) down
    with pytest.raises(ValueError, match="'balanced' or None"):
        get_task("semseg", num_classes=6, class_weights="median")


def test_per_class_iou_from_evaluate():
    task = get_task("semseg", num_classes=4)
    images = torch.zeros(2, 3, 32, 32)
    target = torch.zeros(2, 32, 32, dtype=torch.long)
    target[:, :16] = 1                                               # class 1: top half; classes 2, 3 never appear
    target[1, :, :8] = 255                                           # void: not scored

    class Fixed(torch.nn.Module):                                    # predicts class 1 on the top 24 rows, else 0
        def forward(self, x):
            logits = torch.zeros(x.shape[0], 4, 32, 32)
            logits[:, 1, :24] = 1.0
            logits[:, 0, 24:] = 1.0
            return logits

    from mtl_course.models import MultiTaskNet
    model = MultiTaskNet(torch.nn.Identity(), {"semseg": Fixed()})
    scores = evaluate(model, [task], {"image": images, "semseg": target}, per_class=True)
    iou = scores["semseg"]["iou"]
    # image 0: class 1 TP 16x32, FP 8x32; image 1 (24 columns labelled): TP 16x24, FP 8x24; class 0: TP 8x32 + 8x24
    assert iou[1] == pytest.approx((16 * 56) / (24 * 56)) and iou[0] == pytest.approx((8 * 56) / (16 * 56))
    assert iou[2] != iou[2] and iou[3] != iou[3]                     # NaN: neither in target nor prediction
    assert scores["semseg"]["miou"] == pytest.approx((iou[0] + iou[1]) / 2)
    assert "iou" not in evaluate(model, [task], {"image": images, "semseg": target})["semseg"]


def test_mapping_and_void_must_not_overlap_and_named_keeps_stackable(tmp_path):
    masks = torch.zeros(2, 32, 32, dtype=torch.long)
    masks[:, 4:9, 4:9] = 255
    write_folder(torch.rand(2, 3, 32, 32), masks, tmp_path)
    with pytest.raises(ValueError, match=r"maps the mask value 255, which void=255 also marks"):
        load_dataset("folder", tmp_path, mapping={255: 1})
    from mtl_course.train.batches import named, to_tensors

    class Augmented(torch.utils.data.Dataset):
        stackable = False

        def __len__(self):
            return 2

        def __getitem__(self, i):
            return torch.rand(3, 32, 32), masks[i]

    assert to_tensors(named(Augmented(), ("image", "semseg")), ["image", "semseg"]) is None   # still streamed
    with pytest.raises(KeyError, match=r"no \['depth'\]"):
        to_tensors(named(Augmented(), ("image", "semseg")), ["image", "depth"])

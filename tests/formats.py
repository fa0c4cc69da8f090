"""Tiny datasets written in exactly the on-disk layouts that torchvision's classes read (no network).

Each image has a coloured square where its mask has an object, so that a test can check that image and mask
stay aligned through transforms: red (channel 0) high <=> the object's pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

VOC_PALETTE = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
               (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0), (64, 0, 128), (192, 0, 128),
               (64, 128, 128), (192, 128, 128), (0, 64, 0), (128, 64, 0), (0, 192, 0), (128, 192, 0), (0, 64, 128)]


def scene(height: int, width: int, box: tuple[int, int, int, int], seed: int) -> np.ndarray:
    """uint8 [H, W, 3]: a dim noisy background with a bright red box (top, left, bottom, right)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    top, left, bottom, right = box
    image[top:bottom, left:right] = (230, 20, 20)
    return image


def box_of(i: int, height: int, width: int) -> tuple[int, int, int, int]:
    """A box that differs per image and sits off-centre (so that a flip moves it)."""
    top, left = 3 + 2 * i, 4 + 3 * i
    return top, left, top + height // 3, left + width // 4


def write_pets(root: Path, n: int = 3, height: int = 40, width: int = 56) -> list[str]:
    """root/oxford-iiit-pet/{images/*.jpg, annotations/trimaps/*.png, annotations/{trainval,test}.txt}.
    Trimap: 1 pet, 2 background, 3 border (a 1-px ring around the pet). Even images are cats, odd ones dogs."""
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    names, lines = [], {"trainval": [], "test": []}
    for i in range(2 * n):
        cat = i % 2 == 0
        breed, class_id = ("Abyssinian", 1) if cat else ("beagle", 2)
        name = f"{breed}_{i + 1}"
        top, left, bottom, right = box_of(i % n, height, width)
        Image.fromarray(scene(height, width, (top, left, bottom, right), i)).save(base / "images" / f"{name}.jpg",
                                                                                 quality=95)
        trimap = np.full((height, width), 2, np.uint8)
        trimap[top - 1:bottom + 1, left - 1:right + 1] = 3
        trimap[top:bottom, left:right] = 1
        Image.fromarray(trimap).save(base / "annotations" / "trimaps" / f"{name}.png")
        lines["trainval" if i < n else "test"].append(f"{name} {class_id} {1 if cat else 2} 1")
        names.append(name)
    for split, rows in lines.items():
        (base / "annotations" / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return names


def write_voc(root: Path, n: int = 3, height: int = 40, width: int = 56) -> list[str]:
    """root/VOCdevkit/VOC2012/{JPEGImages/*.jpg, SegmentationClass/*.png (palette), ImageSets/Segmentation/*.txt}.
    Image i: class 15 (person) in its box, a 1-px void (255) outline, and class 7 (car) in the bottom-right corner."""
    base = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(2 * n):
        name = f"2007_{i:06d}"
        top, left, bottom, right = box_of(i % n, height, width)
        Image.fromarray(scene(height, width, (top, left, bottom, right), i)).save(base / "JPEGImages" / f"{name}.jpg",
                                                                                 quality=95)
        mask = np.zeros((height, width), np.uint8)
        mask[top - 1:bottom + 1, left - 1:right + 1] = 255
        mask[top:bottom, left:right] = 15
        mask[-6:, -6:] = 7
        png = Image.fromarray(mask)
        flat = [c for colour in VOC_PALETTE for c in colour]
        png.putpalette(flat + [0] * (765 - len(flat)) + [224, 224, 192])     # index 255: VOC's cream outline
        png.save(base / "SegmentationClass" / f"{name}.png")
        names.append(name)
    (base / "ImageSets/Segmentation/train.txt").write_text("\n".join(names[:n]) + "\n")
    (base / "ImageSets/Segmentation/val.txt").write_text("\n".join(names[n:]) + "\n")
    (base / "ImageSets/Segmentation/trainval.txt").write_text("\n".join(names) + "\n")
    return names


def write_cityscapes(root: Path, n: int = 2, height: int = 32, width: int = 64) -> None:
    """root/leftImg8bit/<split>/<city>/*_leftImg8bit.png and root/gtFine/<split>/<city>/*_gtFine_{labelIds,
    instanceIds}.png for splits train and val. Label ids: top half sky (23), bottom road (7), a 2-px band of
    "parking" (9, void in the 19 classes) and of "unlabeled" (0); two touching cars (26) with instance ids
    26000 and 26001 in the box, side by side; a person (24, instance 24000) in the bottom-left corner."""
    for split, city in (("train", "aachen"), ("val", "frankfurt")):
        images, labels = root / "leftImg8bit" / split / city, root / "gtFine" / split / city
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            stem = f"{city}_{i:06d}_000019"
            top, left, bottom, right = box_of(i, height, width)
            ids = np.full((height, width), 7, np.uint8)
            ids[: height // 2] = 23
            ids[:, -2:] = 9
            ids[:, :2] = 0
            ids[top:bottom, left:right] = 26
            ids[-5:, 3:7] = 24
            instance = ids.astype(np.int32)
            middle = (left + right) // 2
            instance[top:bottom, left:middle] = 26000
            instance[top:bottom, middle:right] = 26001
            instance[-5:, 3:7] = 24000
            Image.fromarray(scene(height, width, (top, left, bottom, right), i)).save(
                images / f"{stem}_leftImg8bit.png")
            Image.fromarray(ids).save(labels / f"{stem}_gtFine_labelIds.png")
            Image.fromarray(instance.astype(np.uint16)).save(labels / f"{stem}_gtFine_instanceIds.png")

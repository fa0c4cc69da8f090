"""The ecosystem's segmentation datasets, read by torchvision's own classes, as the course's samples.

    OxfordPets   torchvision OxfordIIITPet: trimaps -> background / cat / dog, the trimap's "border" -> void
    VOC          torchvision VOCSegmentation: palette PNGs whose indices are the 21 classes, 255 = void
    Cityscapes   torchvision Cityscapes: label ids -> the 19 train ids (others void); instance ids -> objects

torchvision reads the files (the layout on disk is torchvision's, see each class); these wrappers only turn its
(PIL image, PIL target) into tensors with the course's class ids. Build them with load_dataset (load.py), which
also turns a missing dataset or a failed download into an error that says what to do.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
import torchvision
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from mtl_course.data.labelled import VOID, LabelledImages

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "dining table", "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa", "train",
               "tv/monitor"]
PET_CLASSES = ["background", "cat", "dog"]
TRIMAP_PET, TRIMAP_BACKGROUND, TRIMAP_BORDER = 1, 2, 3


def pil_image(image: Any) -> Tensor:
    """uint8 [3, H, W] from a PIL image (converted to RGB)."""
    return TF.pil_to_tensor(image.convert("RGB"))


def pil_ids(target: Any) -> Tensor:
    """int64 [H, W]: the stored pixel values of a single-channel PIL image (palette indices, ids), not colours."""
    return torch.from_numpy(np.array(target).astype(np.int64))


class TorchvisionImages(LabelledImages):
    """A torchvision segmentation dataset (`.source`) read sample by sample."""

    def __init__(self, source: torch.utils.data.Dataset, classes: Sequence[str],
                 size: int | Sequence[int] | None = None, transforms: Callable[..., Any] | None = None) -> None:
        self.source = source
        super().__init__(classes, size, transforms)

    def __len__(self) -> int:
        return len(self.source)

    def name(self, index: int) -> str:
        return f"{type(self.source).__name__} sample {index}"


class OxfordPets(TorchvisionImages):
    """Oxford-IIIT Pet: 37 breeds of cats and dogs with trimaps (pet / background / border).

    semseg: 0 background, 1 cat, 2 dog (the trimap's pet pixels get the image's species); the trimap's
    "border" band, a few pixels wide around each pet, is void (255) as in the dataset's own protocol.
    Splits: "trainval" (3680 images) and "test" (3669). On disk: root/oxford-iiit-pet/images/*.jpg,
    root/oxford-iiit-pet/annotations/trimaps/*.png, annotations/{trainval,test}.txt.
    """

    def __init__(self, root: str, split: str = "trainval", download: bool = False,
                 size: int | Sequence[int] | None = None, transforms: Callable[..., Any] | None = None) -> None:
        source = torchvision.datasets.OxfordIIITPet(root, split=split, target_types=["segmentation",
                                                                                     "binary-category"],
                                                    download=download)
        super().__init__(source, PET_CLASSES, size, transforms)

    def read(self, index: int) -> tuple[Tensor, Tensor, None]:
        image, (trimap, species) = self.source[index]          # species: 0 cat, 1 dog
        trimap = pil_ids(trimap)
        semseg = torch.full_like(trimap, VOID)
        semseg[trimap == TRIMAP_BACKGROUND] = 0
        semseg[trimap == TRIMAP_PET] = 1 + species
        return pil_image(image), semseg, None


class VOC(TorchvisionImages):
    """PASCAL VOC segmentation: 20 object classes + background; object outlines (5 px) and hard pixels are 255.

    Splits: "train", "val", "trainval". On disk: root/VOCdevkit/VOC2012/JPEGImages/*.jpg,
    SegmentationClass/*.png (palette PNGs: the stored index is the class id) and ImageSets/Segmentation/<split>.txt.
    """

    def __init__(self, root: str, split: str = "train", download: bool = False, year: str = "2012",
                 size: int | Sequence[int] | None = None, transforms: Callable[..., Any] | None = None) -> None:
        source = torchvision.datasets.VOCSegmentation(root, year=year, image_set=split, download=download)
        super().__init__(source, VOC_CLASSES, size, transforms)

    def read(self, index: int) -> tuple[Tensor, Tensor, None]:
        image, target = self.source[index]
        return pil_image(image), pil_ids(target), None


class Cityscapes(TorchvisionImages):
    """Cityscapes (fine annotations): 19 classes (the benchmark's train ids), everything else void; instances of
    the 8 "thing" classes (person, rider, car, truck, bus, train, motorcycle, bicycle).

    Splits: "train", "val" ("test" has no public labels). On disk: root/leftImg8bit/<split>/<city>/*_leftImg8bit.png
    and root/gtFine/<split>/<city>/*_gtFine_labelIds.png, *_gtFine_instanceIds.png.
    """

    def __init__(self, root: str, split: str = "train", size: int | Sequence[int] | None = None,
                 transforms: Callable[..., Any] | None = None) -> None:
        source = torchvision.datasets.Cityscapes(root, split=split, mode="fine",
                                                 target_type=["semantic", "instance"])
        classes = [c for c in sorted(source.classes, key=lambda c: c.train_id) if 0 <= c.train_id < VOID]
        self.train_ids = torch.full((256,), VOID, dtype=torch.int64)     # label id -> train id (void if none)
        for c in source.classes:
            if c.id >= 0:
                self.train_ids[c.id] = c.train_id if 0 <= c.train_id < VOID else VOID
        super().__init__(source, [c.name for c in classes], size, transforms)

    def read(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        image, (semantic, instance_ids) = self.source[index]
        semseg = self.train_ids[pil_ids(semantic)]
        instance_ids = pil_ids(instance_ids)             # < 1000: a class without instances; id * 1000 + k: object k
        objects = instance_ids.where((instance_ids >= 1000) & (semseg != VOID), torch.zeros_like(instance_ids))
        instance = torch.unique(objects, return_inverse=True)[1]
        instance = instance if bool((objects == 0).any()) else instance + 1   # 0 stays "no object"
        return pil_image(image), semseg, instance

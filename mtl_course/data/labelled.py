"""Real images with label maps, as the dict samples that fit and evaluate read.

Every real dataset of the course (load_dataset: a folder of your own, Oxford-IIIT Pet, VOC, Cityscapes) reads
one image and its label map(s) from disk, then does the same four things:

    class ids   the source's label ids -> the course's class ids 0..C-1, unlabelled ("void") pixels -> 255
    transforms  your torchvision.transforms.v2 transform, applied to the image and the maps *together*
                (tv_tensors.Image + tv_tensors.Mask: a flip flips both, a resize uses nearest for the maps)
    size        a resize to (H, W) (v2.Resize: bilinear + antialias for the image, nearest for the maps)
    targets     edges from the label map's boundaries, labels from the classes present

    sample = dataset[i]
    sample["image"]     float32 [3, H, W] in [0, 1]
    sample["semseg"]    int64   [H, W]    class ids 0..C-1 (see .classes), 255 = void
    sample["edges"]     float32 [1, H, W] 1 where a 4-neighbour has another class (or another instance)
    sample["labels"]    float32 [C-1]     1 where class c+1 appears (class 0, the first class, is left out, as in
                                          SyntheticScenes where it is the background)
    sample["instance"]  int64   [H, W]    0 = no object, k = object k (only sources with instances: Cityscapes)

Void pixels count as a region of their own for the edges: where a dataset marks object outlines as void (VOC,
the pets' trimaps), the edges run along both sides of that band.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from mtl_course.data.render import boundaries
from mtl_course.data.sizes import MULTIPLE, SMALLEST, VOID


def check_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """(H, W) from an int or a pair; None stays None. Both sides must be multiples of 16, at least 32."""
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s >= SMALLEST and s % MULTIPLE == 0 for s in pair):
        raise ValueError(f"size must be an int or (height, width), multiples of 16 and at least 32 (the encoders "
                         f"halve the image 4 times), got size={size!r}; e.g. size=64 or size=(96, 128)")
    return pair  # type: ignore[return-value]


class LabelledImages(Dataset):
    """Base class: a subclass says how many samples there are, what they are called, and how to read one.

    Args:
        classes:    the class names; class id c is classes[c]
        size:       resize every sample to (H, W) (an int: square); None keeps each image's own size
        transforms: a torchvision.transforms.v2 transform called as transforms(image, semseg[, instance]) with a
                    tv_tensors.Image and tv_tensors.Masks, e.g. v2.RandomHorizontalFlip(). Any transform (it
                    may be random; which ones are cannot be told from outside) makes the dataset
                    `stackable = False`: fit then reads it afresh every epoch (new flips each epoch) instead of
                    stacking it once.
    """

    def __init__(self, classes: Sequence[str], size: int | Sequence[int] | None = None,
                 transforms: Callable[..., Any] | None = None) -> None:
        self.classes = list(classes)
        self.num_classes = len(self.classes)
        if self.num_classes < 2:
            raise ValueError(f"a segmentation dataset needs at least 2 classes, got {self.classes}")
        self.size = check_size(size)
        self.transforms = transforms
        self.stackable = transforms is None

    # ----- what a subclass writes ----------------------------------------------------------------
    def __len__(self) -> int:
        raise NotImplementedError

    def name(self, index: int) -> str:
        """The sample's file (for error messages)."""
        raise NotImplementedError

    def read(self, index: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """(image uint8 [3, H, W], class ids int64 [H, W] with void = 255, instance ids int64 [H, W] or None)."""
        raise NotImplementedError

    # ----- the same for every source ---------------------------------------------------------------
    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        image, semseg, instance = self.read(index % len(self))
        self.check_ids(semseg, index)
        maps = [tv_tensors.Mask(semseg)] + ([tv_tensors.Mask(instance)] if instance is not None else [])
        image = tv_tensors.Image(image)
        if self.transforms is not None:
            image, *maps = self.transforms(image, *maps)
        if self.size is not None and tuple(image.shape[-2:]) != self.size:
            image, *maps = v2.Resize(self.size, antialias=True)(image, *maps)
        return self.sample(image, *maps)

    def check_ids(self, semseg: Tensor, index: int) -> None:
        bad = semseg[(semseg != VOID) & ((semseg < 0) | (semseg >= self.num_classes))]
        if bad.numel():
            raise ValueError(f"{self.name(index)}: the mask holds label {int(bad[0])}, which is no class id "
                             f"(0..{self.num_classes - 1} for the {self.num_classes} classes {self.classes}) and not "
                             f"void (255). Pass the full class list (classes=[...]), or the id of unlabelled pixels "
                             f"as void=...")

    def sample(self, image: Tensor, semseg: Tensor, instance: Tensor | None = None) -> dict[str, Tensor]:
        """The dict sample from a (transformed) image [3, H, W] and maps [H, W]."""
        image = image.as_subclass(Tensor)
        image = image.float() / 255 if image.dtype == torch.uint8 else image.float()
        semseg = semseg.as_subclass(Tensor).long()
        present = torch.zeros(self.num_classes, dtype=torch.bool)
        present[semseg[semseg != VOID].unique()] = True
        regions = semseg if instance is None else semseg * (int(instance.max()) + 1) + instance.as_subclass(Tensor)
        sample = {"image": image, "semseg": semseg, "edges": boundaries(regions)[None],
                  "labels": present[1:].float()}
        if instance is not None:
            sample["instance"] = instance.as_subclass(Tensor).long()
        return sample

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} samples, {self.num_classes} classes, size={self.size})"

"""load_dataset: any of the course's real datasets by name, as dict samples that fit and evaluate read.

    ds = load_dataset("folder", "data/camvid", split="train", size=(96, 128), classes=CAMVID, void=11)
    ds = load_dataset("oxford_pets", "data", split="trainval", size=128, download=True)
    ds = load_dataset("voc", "data", split="val", size=(128, 160))
    ds = load_dataset("cityscapes", "data/cityscapes", split="train", size=(128, 256))

    ds[0]   # {"image": [3, H, W], "semseg": [H, W], "edges": [1, H, W], "labels": [C-1], ("instance": [H, W])}
    ds.classes

Nothing is downloaded unless download=True. A dataset that is not on disk gives an error naming the expected
layout; a download that fails (no internet) gives an error within DOWNLOAD_TIMEOUT seconds, never a hang.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.error
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from mtl_course.data.folder import FolderDataset
from mtl_course.data.labelled import VOID, LabelledImages
from mtl_course.data.torchvision_sets import VOC, Cityscapes, OxfordPets

DOWNLOAD_TIMEOUT = 30          # seconds without an answer before a download gives up
DATASETS = ("folder", "oxford_pets", "voc", "cityscapes")
SPLITS = {"oxford_pets": ("trainval", "test"), "voc": ("train", "val", "trainval"),
          "cityscapes": ("train", "val", "test")}
LAYOUTS = {
    "oxford_pets": "ROOT/oxford-iiit-pet/images/*.jpg and ROOT/oxford-iiit-pet/annotations/ (trimaps/*.png, "
                   "trainval.txt, test.txt)",
    "voc": "ROOT/VOCdevkit/VOC2012/ with JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/<split>.txt",
    "cityscapes": "ROOT/leftImg8bit/<split>/<city>/*_leftImg8bit.png and ROOT/gtFine/<split>/<city>/ "
                  "(*_gtFine_labelIds.png, *_gtFine_instanceIds.png)",
}
SOURCES = {"oxford_pets": "https://www.robots.ox.ac.uk/~vgg/data/pets/ (images.tar.gz, annotations.tar.gz)",
           "voc": "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ (VOCtrainval_11-May-2012.tar)",
           "cityscapes": "https://www.cityscapes-dataset.com/downloads/ (leftImg8bit_trainvaltest.zip, "
                         "gtFine_trainvaltest.zip; a free account is needed)"}


def layout(name: str, root: Path, split: str | None) -> str:
    """Where torchvision looks for `name`'s files under root."""
    return LAYOUTS[name].replace("ROOT", str(root)).replace("<split>", str(split))


@contextlib.contextmanager
def download_timeout(seconds: float) -> Iterator[None]:
    """Sockets opened inside give up after `seconds` without an answer (urllib's default is to wait forever)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def load_dataset(name: str, root: str | Path, split: str | None = "train", size: int | Sequence[int] | None = None,
                 download: bool = False, classes: Sequence[str] | None = None, void: int | None = VOID,
                 mapping: Mapping[int, int] | None = None,
                 transforms: Callable[..., Any] | None = None) -> LabelledImages:
    """A dataset of dict samples (see mtl_course.data.labelled) with `.classes`.

    Args:
        name:       "folder" (your images + masks, see FolderDataset), "oxford_pets", "voc" or "cityscapes"
        root:       the folder that holds (or will hold, with download=True) the dataset
        split:      "train", "val"... (Oxford-IIIT Pet: "trainval" or "test"; folder: None for no split folders)
        size:       resize every sample to (H, W) (an int: square; multiples of 16); None keeps each image's size
        download:   fetch the dataset into root first (Oxford-IIIT Pet, VOC; Cityscapes needs an account)
        classes, void, mapping: the folder dataset's class names, unlabelled value and value -> class id mapping
        transforms: a torchvision.transforms.v2 transform applied to image and masks together, e.g.
                    v2.Compose([v2.RandomHorizontalFlip(), v2.RandomResizedCrop((64, 64), antialias=True)])
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; load_dataset reads {list(DATASETS)}")
    root = Path(root)
    if name == "folder":
        if download:
            raise ValueError("a folder dataset is your own files: there is nothing to download (download=False)")
        return FolderDataset(root, split, size=size, classes=classes, void=void, mapping=mapping,
                             transforms=transforms)
    if classes is not None or mapping is not None or void != VOID:
        raise ValueError(f"classes=, void= and mapping= describe a folder dataset's masks; {name} has its own "
                         f"classes (see the dataset's .classes)")
    if split not in SPLITS[name]:
        raise ValueError(f"{name} has the splits {list(SPLITS[name])}, got split={split!r}")
    if name == "cityscapes" and download:
        raise ValueError(f"Cityscapes cannot be downloaded automatically: get it from {SOURCES[name]} and unzip both "
                         f"archives into {root}, so that it holds {layout(name, root, split)}")
    try:
        with download_timeout(DOWNLOAD_TIMEOUT):
            if name == "oxford_pets":
                return OxfordPets(str(root), split, download=download, size=size, transforms=transforms)
            if name == "voc":
                return VOC(str(root), split, download=download, size=size, transforms=transforms)
            return Cityscapes(str(root), split, size=size, transforms=transforms)
    except (urllib.error.URLError, socket.timeout, ConnectionError) as err:
        raise ConnectionError(f"downloading {name} failed ({err}). Without internet access, download it elsewhere "
                              f"from {SOURCES[name]} and unpack it into {root}, so that it holds "
                              f"{layout(name, root, split)}") from None
    except (RuntimeError, FileNotFoundError) as err:
        hint = "pass download=True to fetch it, or " if name != "cityscapes" else ""
        raise FileNotFoundError(f"{name} ({split}) is not in {root} ({err}). Expected "
                                f"{layout(name, root, split)}: {hint}download it from "
                                f"{SOURCES[name]} and unpack it there") from None

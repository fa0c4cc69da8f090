"""Exercise 08 — your own data: read a case of a new folder layout, a dataset with aligned transforms, void padding.

The layout (one folder per case, as many medical sets): root/case_XXX/image.png (a grey scan) and
root/case_XXX/label.png (0 background, 1 organ, 2 lesion, 9 = not annotated).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from mtl_course.data import pad_to_multiple
from mtl_course.grading.questions import question

UNANNOTATED = 9
SIZES = {"case_002": (20, 28), "case_000": (24, 36), "case_001": (20, 28)}     # written in this (unsorted) order


def write_cases(root: Path) -> Path:
    """Three cases: an organ (1) with a lesion (2) inside, brighter than the organ; a 2-px unannotated (9) strip on
    the left; the lesion sits right of centre (so that a flip moves it)."""
    for i, (name, (height, width)) in enumerate(SIZES.items()):
        label = np.zeros((height, width), np.uint8)
        label[3:height - 3, 6:width - 4] = 1
        label[5 + i:12 + i, width - 14:width - 7] = 2
        label[:, :2] = UNANNOTATED
        scan = np.where(label == 2, 230, np.where(label == 1, 120, 30)).astype(np.uint8)
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(scan).save(root / name / "image.png")            # one channel ("L"), as scans are
        Image.fromarray(label).save(root / name / "label.png")
    (root / "README.txt").write_text("cases: image.png + label.png\n")    # not a case
    return root


def reference(folder: Path) -> dict[str, torch.Tensor]:
    with Image.open(folder / "image.png") as scan_file, Image.open(folder / "label.png") as label_file:
        scan = torch.from_numpy(np.array(scan_file)).float() / 255
        label = torch.from_numpy(np.array(label_file)).long()
    return {"image": scan.expand(3, -1, -1).clone(), "semseg": label.masked_fill(label == UNANNOTATED, 255)}




@question("08.q1", "Read image.png as float [3, H, W] in [0, 1] (the grey channel repeated 3 times, values / 255) and "
                   "label.png as int64 [H, W] ids, unchanged except 9 (not annotated) -> 255; return "
                   "{'image': ..., 'semseg': ...}.")
def read_case(fn) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="exercise08-") as folder:
        return _read_case(fn, write_cases(Path(folder)))


def _read_case(fn, root: Path) -> tuple[bool, str]:
    for name in sorted(SIZES):
        sample, expected = fn(root / name), reference(root / name)
        if not isinstance(sample, dict) or not {"image", "semseg"} <= set(sample):
            return False, f"return a dict with 'image' and 'semseg', got {type(sample).__name__}"
        image, semseg = sample["image"], sample["semseg"]
        if not isinstance(image, torch.Tensor) or not isinstance(semseg, torch.Tensor):
            return False, "return torch tensors (torch.from_numpy(np.array(Image.open(...))))"
        if tuple(image.shape) != tuple(expected["image"].shape):
            return False, (f"{name}: image shape {tuple(image.shape)}, expected {tuple(expected['image'].shape)} = "
                           f"[3, H, W]: the scan has one channel, repeat it 3 times (the models read RGB)")
        if not image.is_floating_point() or float(image.max()) > 1:
            return False, f"{name}: the image must be float in [0, 1]: divide the 0..255 values by 255"
        if not torch.allclose(image.float(), expected["image"], atol=1e-6):
            return False, f"{name}: the image values differ from image.png's / 255"
        if semseg.is_floating_point() or semseg.dtype != torch.int64:
            return False, f"{name}: semseg must hold int64 class ids (.long()), got {semseg.dtype}"
        if tuple(semseg.shape) != tuple(expected["semseg"].shape):
            return False, (f"{name}: semseg shape {tuple(semseg.shape)}, expected [H, W] = "
                           f"{tuple(expected['semseg'].shape)}")
        if (semseg == UNANNOTATED).any():
            return False, f"{name}: the unannotated pixels (9) must become 255, which the losses and metrics skip"
        if not torch.equal(semseg, expected["semseg"]):
            return False, f"{name}: the class ids differ from label.png's (only 9 changes, to 255)"
    return True, "reads all three cases (grey scan -> 3 channels, 9 -> 255)"


@question("08.q2", "__len__: the number of case folders (sorted by name; files such as README.txt are not cases); "
                   "__getitem__(i): read_case of the i-th case, then, if transforms was given, "
                   "transforms(tv_tensors.Image(image), tv_tensors.Mask(semseg)) — both in one call; "
                   "self.stackable = transforms is None.")
def case_dataset(cls) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="exercise08-") as folder, torch.random.fork_rng(devices=[]):
        return _case_dataset(cls, write_cases(Path(folder)))


def _case_dataset(cls, root: Path) -> tuple[bool, str]:
    names = sorted(SIZES)
    plain = cls(root)
    if len(plain) != len(names):
        return False, f"len(dataset) = {len(plain)}, expected the {len(names)} case folders (README.txt is no case)"
    for i, name in enumerate(names):
        if not torch.equal(torch.as_tensor(plain[i]["semseg"]), reference(root / name)["semseg"]):
            return False, f"dataset[{i}] is not {name}: sort the case folders by name"
    if getattr(plain, "stackable", None) is not True or \
            getattr(cls(root, transforms=v2.RandomHorizontalFlip()), "stackable", None) is not False:
        return False, ("set self.stackable = transforms is None: fit stacks a stackable dataset once, which would "
                       "keep the first random draw of every transform for all epochs")
    flipped = cls(root, transforms=v2.RandomHorizontalFlip(p=1.0))[0]
    expected = reference(root / names[0])
    if not torch.equal(torch.as_tensor(flipped["semseg"]), expected["semseg"].flip(-1)):
        return False, "with a flip, semseg must be flipped too: pass image and mask to the transform in one call"
    if not torch.allclose(torch.as_tensor(flipped["image"]), expected["image"].flip(-1)):
        return False, "with a flip, the image must be flipped too"
    resized = torch.as_tensor(cls(root, transforms=v2.Resize((16, 24), antialias=True))[1]["semseg"])
    nearest = v2.Resize((16, 24), antialias=True)(tv_tensors.Mask(reference(root / names[1])["semseg"]))
    if not set(resized.unique().tolist()) <= {0, 1, 2, 255}:
        return False, (f"resized, semseg holds ids {sorted(set(resized.unique().tolist()))}: the mask was resized "
                       f"like an image (averaged). Wrap it as tv_tensors.Mask so that v2 uses nearest neighbour")
    if not torch.equal(resized, nearest.as_subclass(torch.Tensor)):
        return False, "resized, semseg differs from v2.Resize of a tv_tensors.Mask (nearest neighbour)"
    crop = cls(root, transforms=v2.RandomResizedCrop((16, 16), scale=(0.3, 1.0), antialias=True))
    for seed in range(6):
        torch.manual_seed(seed)
        sample = crop[seed % 3]
        image, semseg = torch.as_tensor(sample["image"]), torch.as_tensor(sample["semseg"])
        if (semseg == 2).any() and float(image[0][semseg == 2].mean()) < 0.7:
            return False, ("after a random crop the lesion's label is not where the bright lesion is: image and "
                           "mask were cropped differently (one call to the transform for both)")
    return True, "cases in order, transforms applied to image and mask together (flip, resize, random crops)"


@question("08.q3", "Pad at the bottom and right up to the next multiples of 16: the image with 0, the mask with 255 "
                   "(void: padding is no background). A side that is already a multiple of 16 stays as it is.")
def pad_to_16(fn) -> tuple[bool, str]:
    g = torch.Generator().manual_seed(8)
    for height, width in ((20, 28), (40, 50), (32, 48)):
        image = torch.rand(3, height, width, generator=g)
        semseg = torch.randint(0, 3, (height, width), generator=g)
        result = fn(image.clone(), semseg.clone())
        if not isinstance(result, tuple) or len(result) != 2:
            return False, "return (padded image, padded semseg)"
        padded_image, padded_semseg = (torch.as_tensor(r) for r in result)
        expected_image, expected_semseg = pad_to_multiple(image, semseg, multiple=16)
        if tuple(padded_image.shape) != tuple(expected_image.shape):
            return False, (f"{height}x{width}: padded to {tuple(padded_image.shape[-2:])}, expected "
                           f"{tuple(expected_image.shape[-2:])} (the next multiples of 16; none if already one)")
        if tuple(padded_semseg.shape) != tuple(expected_semseg.shape):
            return False, f"{height}x{width}: semseg padded to {tuple(padded_semseg.shape)}, expected the image's size"
        if not torch.equal(padded_image[:, :height, :width], image):
            return False, f"{height}x{width}: the original pixels moved: pad at the bottom and right only"
        if not torch.equal(padded_semseg[:height, :width], semseg):
            return False, f"{height}x{width}: the original labels moved: pad at the bottom and right only"
        if not torch.equal(padded_semseg, expected_semseg):
            padding = set(padded_semseg[height:].unique().tolist()) | set(padded_semseg[:, width:].unique().tolist())
            return False, (f"{height}x{width}: padded label pixels must be 255 (void, skipped by the loss), not "
                           f"{sorted(padding)}")
        if not torch.equal(padded_image, expected_image):
            return False, f"{height}x{width}: padded image pixels must be 0"
    return True, "pads image (0) and mask (255) at the bottom and right to multiples of 16"

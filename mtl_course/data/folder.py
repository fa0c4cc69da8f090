"""Your own images and masks in a folder: the two layouts most segmentation sets use.

    root/images/<split>/NAME.jpg   +  root/masks/<split>/NAME.png      (split=None: root/images/ + root/masks/)
    root/<split>/NAME.png          +  root/<split>annot/NAME.png       (CamVid's layout: train/ + trainannot/)

An image and its mask share a file stem (NAME). A mask is a single-channel PNG whose pixel values are class ids: an
index ("L") PNG, or a palette ("P") PNG such as VOC's, where each pixel stores a palette index (the colours are only
for viewing). Which value means "unlabelled" is the dataset's choice (CamVid: 11, VOC: 255): pass it as void=.

    ds = FolderDataset("data/camvid", split="train", size=(96, 128), classes=CAMVID_CLASSES, void=11)
    ds[0]["semseg"]      # int64 [96, 128]: ids 0..10, 255 where the mask said 11

Masks that store 0 and 255 for "background" and "object" (many binary sets do): mapping={255: 1}, void=None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from mtl_course.data.labelled import VOID, LabelledImages

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MASK_MODES = ("L", "P", "I", "I;16", "1")        # single-channel PIL modes: the pixel values are the ids


def layouts(root: Path, split: str | None) -> list[tuple[Path, Path]]:
    """The (images folder, masks folder) pairs looked for, in order."""
    if split is None:
        return [(root / "images", root / "masks")]
    return [(root / "images" / split, root / "masks" / split), (root / split, root / f"{split}annot")]


def find_pairs(root: Path, split: str | None) -> list[tuple[Path, Path]]:
    """[(image file, mask file)] sorted by name, from the first layout found under root."""
    found = next(((i, m) for i, m in layouts(root, split) if i.is_dir() and m.is_dir()), None)
    if found is None:
        expected = " or ".join(f"{i.relative_to(root)}/ + {m.relative_to(root)}/" for i, m in layouts(root, split))
        raise FileNotFoundError(f"no images and masks found under {root}: expected {expected}, with one mask per "
                                f"image of the same file name (stem). Folders there now: "
                                f"{sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else 'none'}")
    image_dir, mask_dir = found
    images = {p.stem: p for p in sorted(image_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    masks = {p.stem: p for p in sorted(mask_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not images:
        raise FileNotFoundError(f"{image_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    no_mask = sorted(set(images) - set(masks))
    if no_mask:
        raise FileNotFoundError(f"{len(no_mask)} image(s) have no mask, e.g. {images[no_mask[0]]}: expected "
                                f"{mask_dir / (no_mask[0] + '.png')}")
    no_image = sorted(set(masks) - set(images))
    if no_image:
        raise FileNotFoundError(f"{len(no_image)} mask(s) have no image, e.g. {masks[no_image[0]]}: expected an image "
                                f"named {no_image[0]}.* in {image_dir}")
    return [(images[stem], masks[stem]) for stem in sorted(images)]


def read_image(path: Path) -> Tensor:
    """uint8 [3, H, W] (any format PIL reads, converted to RGB); a clear error naming the file if it cannot."""
    try:
        with Image.open(path) as image:
            return TF.pil_to_tensor(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ValueError(f"cannot read the image {path}: {err}") from None


def read_mask(path: Path) -> Tensor:
    """int64 [H, W]: the pixel values of a single-channel (index or palette) PNG, as they are stored."""
    try:
        with Image.open(path) as mask:
            mode, array = mask.mode, np.asarray(mask)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ValueError(f"cannot read the mask {path}: {err}") from None
    if mode not in MASK_MODES:
        if array.ndim == 3 and (array[..., :3] == array[..., :1]).all():
            array = array[..., 0]                  # a grey mask saved as RGB: every channel holds the id
        else:
            raise ValueError(f"the mask {path} is a colour ({mode}) image; a mask must store one class id per "
                             f"pixel (an index or palette PNG). Convert each colour to its class id first, e.g. "
                             f"ids[(rgb == colour).all(-1)] = class_id, and save with PIL's Image.fromarray(ids)")
    return torch.from_numpy(array.astype(np.int64))


class FolderDataset(LabelledImages):
    """Images and masks with matching file names under root (the layouts above).

    Args:
        root, split: where (split=None: root/images + root/masks, no split folders)
        size:        resize to (H, W) (an int: square); None keeps each image's size (then all must be equal
                     for fit to stack them)
        classes:     the class names (class id c = classes[c]); None: "class 0".."class K" from the largest id
                     found in the masks (every mask is read once to find it)
        void:        the mask value of unlabelled pixels (255 in the samples); None: every value is a class
        mapping:     {mask value: class id} for masks that store other values, e.g. {255: 1} for 0/255 masks
        transforms:  a torchvision.transforms.v2 transform applied to image and masks together (see LabelledImages)
    """

    def __init__(self, root: str | Path, split: str | None = "train", size: int | Sequence[int] | None = None,
                 classes: Sequence[str] | None = None, void: int | None = VOID,
                 mapping: Mapping[int, int] | None = None, transforms: Callable[..., Any] | None = None) -> None:
        self.root = Path(root)
        self.pairs = find_pairs(self.root, split)
        self.void, self.mapping = void, dict(mapping or {})
        if void is not None and void in self.mapping:
            raise ValueError(f"mapping={self.mapping} maps the mask value {void}, which void={void} also marks as "
                             f"unlabelled; pass void=None (or the value your masks use for unlabelled pixels)")
        if classes is None:
            classes = [f"class {c}" for c in range(self.largest_id() + 1)]
        if void is not None and void != VOID and 0 <= void < len(classes):
            raise ValueError(f"void={void} is also a class id (0..{len(classes) - 1}); void is the mask value of "
                             f"unlabelled pixels, which must not be a class")
        super().__init__(classes, size, transforms)

    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, index: int) -> str:
        return str(self.pairs[index][1])

    def largest_id(self) -> int:
        """The largest class id in any mask (at least 1): reads every mask once."""
        largest = 1
        for _, mask_path in self.pairs:
            ids = self.class_ids(read_mask(mask_path))
            labelled = ids[ids != VOID]
            largest = max(largest, int(labelled.max()) if labelled.numel() else 0)
        return largest

    def class_ids(self, raw: Tensor) -> Tensor:
        """Mask values -> class ids: mapping first, then void -> 255."""
        ids = raw.clone()
        for value, class_id in self.mapping.items():
            ids[raw == value] = class_id
        if self.void is not None:
            ids[raw == self.void] = VOID
        return ids

    def read(self, index: int) -> tuple[Tensor, Tensor, None]:
        image_path, mask_path = self.pairs[index]
        image, mask = read_image(image_path), read_mask(mask_path)
        if tuple(image.shape[-2:]) != tuple(mask.shape):
            raise ValueError(f"the mask {mask_path} is {tuple(mask.shape)} (H, W) but its image {image_path} is "
                             f"{tuple(image.shape[-2:])}: a mask must have its image's size (resize it with "
                             f"nearest-neighbour interpolation, or fix the pairing)")
        return image, self.class_ids(mask), None


def write_folder(images: Tensor, masks: Tensor, root: str | Path, split: str | None = "train",
                 palette: Sequence[tuple[int, int, int]] | None = None, void: int = VOID,
                 layout: str = "images/masks") -> Path:
    """Save images and masks as PNGs named 0000.png, ... in a layout that FolderDataset reads.

    Inputs:
        images: float [N, 3, H, W] in [0, 1] (or uint8)
        masks:  int [N, H, W] class ids 0..254, void = 255 (written as `void`)
        palette: colours for a palette PNG (one per class id; VOC-style), or None for an index ("L") PNG
        layout: "images/masks" (root/images/<split>/ + root/masks/<split>/) or "annot" (root/<split>/ +
                root/<split>annot/, CamVid's)
    Returns the images folder.
    """
    if layout not in ("images/masks", "annot") or (layout == "annot" and split is None):
        raise ValueError(f"layout must be 'images/masks' or 'annot' (which needs a split), got {layout!r}")
    if images.dim() != 4 or images.shape[1] != 3 or masks.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(f"need images [N, 3, H, W] and masks [N, H, W] of the same N, H, W; got "
                         f"{tuple(images.shape)} and {tuple(masks.shape)}")
    if int(masks.min()) < 0 or int(masks.max()) > 255:
        raise ValueError("mask values must lie in 0..255 to be stored in an 8-bit PNG")
    image_dir, mask_dir = layouts(Path(root), split)[0 if layout == "images/masks" else 1]
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    pixels = images if images.dtype == torch.uint8 else (images.clamp(0, 1) * 255).round().to(torch.uint8)
    ids = masks.masked_fill(masks == VOID, void).to(torch.uint8)
    width = max(4, len(str(len(images) - 1)))
    for i, (image, mask) in enumerate(zip(pixels, ids)):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(image_dir / f"{i:0{width}d}.png")
        mask_image = Image.fromarray(mask.numpy())                  # 8-bit, one channel: an index ("L") PNG
        if palette is not None:                                      # the same indices, with colours to view them
            flat = [channel for colour in palette for channel in colour]
            mask_image.putpalette(flat + [0] * (768 - len(flat)))   # L -> P
        mask_image.save(mask_dir / f"{i:0{width}d}.png")
    return image_dir

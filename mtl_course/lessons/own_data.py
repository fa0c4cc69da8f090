"""Lesson 08: a folder of "your own" frames, written from SyntheticScenes the way a real annotated set looks.

    root = write_frames("data/lesson08")      # root/train/*.png + root/trainannot/*.png, root/val + root/valannot
    train = load_dataset("folder", root, "train", size=OWN_DATA.frame_size, classes=CLASSES, void=OUTLINE)

What makes the frames like real data (and unlike the scenes of lessons 00-07):
    * a size the encoders do not take: 56x64 (the bottom of 64x64 scenes cut off), so load_dataset resizes
      them to 48x64 (multiples of 16);
    * unlabelled pixels: the annotator left every object's outline (1 px, on both sides of the boundary)
      unlabelled and stored it as OUTLINE = 6, the id after the last class, as CamVid stores its void as 11;
    * files on disk in CamVid's layout, read back through PIL and torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtl_course.data import SyntheticScenes, write_folder
from mtl_course.data.render import boundaries
from mtl_course.lessons.setup import Setup

OUTLINE = 6          # the mask value of the unlabelled outlines, in the files


@dataclass(frozen=True)
class OwnDataSetup(Setup):
    """Lesson 08's settings: 56x64 frames on disk, read at 48x64."""

    n_train: int = 320
    n_val: int = 96
    scene_size: int = 64          # scenes are rendered at 64x64, then cut to frame_height rows
    frame_height: int = 56
    size: tuple[int, int] = (48, 64)
    epochs: int = 6
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0


OWN_DATA = OwnDataSetup()


def write_frames(root: str | Path, setup: OwnDataSetup = OWN_DATA) -> Path:
    """Write the lesson's frames (train and val) under root in CamVid's layout, unless they are there already."""
    root = Path(root)
    for split, n in (("train", setup.n_train), ("val", setup.n_val)):
        if (root / f"{split}annot").is_dir() and len(list((root / f"{split}annot").glob("*.png"))) == n:
            continue
        scenes = SyntheticScenes(n=n, size=setup.scene_size, seed=setup.seed, split=split).tensors()
        rows = slice(0, setup.frame_height)
        masks = scenes["semseg"][:, rows].clone()
        masks[boundaries(scenes["instance"][:, rows]) > 0] = OUTLINE
        write_folder(scenes["image"][:, :, rows], masks, root, split=split, layout="annot")
    return root

"""SyntheticScenes: the course's built-in dataset, generated on your machine in about a second.

    ds = SyntheticScenes(n=1024, size=64, seed=0, split="train", domain="target")
    sample = ds[0]          # dict of image and label maps, see __getitem__
    batch = ds.tensors()    # the whole split stacked, e.g. batch["image"] is [1024, 3, 64, 64]

The same arguments always give the same scenes. Scenes are drawn in chunks of 256, each from its own
seed, so a smaller `n` is a prefix of a larger one (handy for label-budget experiments). Generated
splits are cached under data/cache/ (or $MTL_COURSE_CACHE) in a checksummed file; a damaged cache
file is detected and regenerated.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mtl_course._io import CorruptFileError, load_verified, save_verified
from mtl_course.data.centers import center_targets
from mtl_course.data.render import CLASSES, DOMAINS, boundaries, render, sample_scenes

RENDER_VERSION = 1          # bump when the renderer changes, so old cache files are not reused
CHUNK = 256                 # scenes drawn per seed
RENDER_BATCH = 64           # scenes rendered at once (bounds memory)
SPLITS = ("train", "val", "test")


def cache_dir() -> Path:
    """Where generated splits (and lesson results) are cached: $MTL_COURSE_CACHE if set; else data/cache/ in
    a course checkout whose folder is writable; else the user cache folder ($XDG_CACHE_HOME or ~/.cache,
    then mtl_course/), which is where an installed package (pip install, Colab) keeps them."""
    if os.environ.get("MTL_COURSE_CACHE"):
        return Path(os.environ["MTL_COURSE_CACHE"])
    course_root = Path(__file__).resolve().parents[2]
    if (course_root / "pyproject.toml").is_file() and os.access(course_root, os.W_OK):
        return course_root / "data" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mtl_course"


def _chunk_seed(seed: int, split: str, domain: str, chunk: int) -> int:
    text = f"SyntheticScenes/{seed}/{split}/{domain}/{chunk}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


class SyntheticScenes(Dataset):
    """Procedural scenes with aligned labels for semseg, depth, edges, normals, instances (and their centres and
    offsets) and labels.

    Args:
        n:           number of scenes
        size:        image height = width in pixels; a multiple of 16, at least 32
        seed:        which scenes; the same arguments always give the same tensors
        split:       "train", "val" or "test" (disjoint scenes)
        domain:      "target" (coloured checkerboard floor, coloured wall, more noise) or
                     "source" (plain grey room, almost no noise) -- used by the transfer lesson
        max_objects: each scene holds 1..max_objects objects (some may be hidden behind others)
        cache:       read/write the generated split under cache_dir()
    """

    def __init__(self, n: int = 1024, size: int = 64, seed: int = 0, split: str = "train",
                 domain: str = "target", max_objects: int = 5, cache: bool = True) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive integer number of scenes, got {n!r}")
        if not isinstance(size, int) or size < 32 or size % 16:
            raise ValueError(f"size must be a multiple of 16 and at least 32 (the encoders halve the "
                             f"image 4 times), got size={size!r}; try 32, 48, 64 or 128")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        if not isinstance(max_objects, int) or not 1 <= max_objects <= 16:
            raise ValueError(f"max_objects must be an integer in 1..16, got {max_objects!r}")
        self.n, self.size, self.seed, self.split, self.domain = n, size, seed, split, domain
        self.max_objects = max_objects
        self.classes: list[str] = list(CLASSES)
        self.num_classes = len(CLASSES)
        self._store = self._load(cache)

    def __repr__(self) -> str:
        return (f"SyntheticScenes(n={self.n}, size={self.size}, seed={self.seed}, "
                f"split={self.split!r}, domain={self.domain!r})")

    # ----- generation and cache ------------------------------------------------------------
    def cache_path(self) -> Path:
        key = f"v{RENDER_VERSION}-n{self.n}-s{self.size}-seed{self.seed}-{self.split}-{self.domain}" \
              f"-k{self.max_objects}"
        return cache_dir() / f"scenes-{key}.pt"

    def _load(self, cache: bool) -> dict[str, Tensor]:
        path = self.cache_path()
        if cache and path.is_file():
            try:
                return load_verified(path)
            except CorruptFileError as err:
                warnings.warn(f"{err} Regenerating the scenes.", stacklevel=3)
        store = self.generate()
        if cache:
            save_verified(store, path)
        return store

    def scenes(self) -> dict[str, Tensor]:
        """The random parameters of the n scenes (object classes, depths, sizes, colours, light...)."""
        chunks = []
        for chunk in range((self.n + CHUNK - 1) // CHUNK):
            gen = torch.Generator().manual_seed(_chunk_seed(self.seed, self.split, self.domain, chunk))
            chunks.append(sample_scenes(CHUNK, self.max_objects, self.domain, gen))
        return {key: torch.cat([c[key] for c in chunks])[:self.n] for key in chunks[0]}

    def generate(self) -> dict[str, Tensor]:
        """Render all n scenes (no cache). Returns the compact storage format (uint8 / float16)."""
        scenes = self.scenes()
        parts = [render({k: v[start:start + RENDER_BATCH] for k, v in scenes.items()}, self.size)
                 for start in range(0, self.n, RENDER_BATCH)]
        store = {key: torch.cat([p[key] for p in parts]).contiguous() for key in parts[0]}
        store["depth"] = store["depth"].half()
        store["normals"] = store["normals"].half()
        return store

    # ----- access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """One scene as a dict:
            image    float32 [3, H, W] in [0, 1]
            semseg   int64   [H, W]   0 = background, 1..C-1 object classes (see .classes)
            depth    float32 [1, H, W] metres, > 0
            edges    float32 [1, H, W] in {0, 1}: pixels on an object boundary
            normals  float32 [3, H, W] unit length, camera axes (x right, y up, z to the camera)
            instance int64   [H, W]   0 = none, k = object slot k (ids of hidden objects are absent)
            centers  float32 [1, H, W] a Gaussian (std 1.5 px) around each visible object's centre, 1 at its pixel
            offsets  float32 [2, H, W] (dy, dx) from each object pixel to its object's centre; NaN on the background
            labels   float32 [C-1]    1 where object class c+1 is visible
        centers and offsets are computed from `instance` on access (mtl_course.data.center_targets: exact,
        deterministic, ~1 ms a scene), not stored: they would triple the cache file.
        """
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self!r}")
        return {key: value[0] for key, value in self._decode(slice(index % self.n, index % self.n + 1)).items()}

    def tensors(self) -> dict[str, Tensor]:
        """The whole split stacked along a first batch dimension N (same keys as a sample)."""
        return self._decode(slice(0, self.n))

    def _decode(self, rows: slice) -> dict[str, Tensor]:
        s = self._store
        semseg = s["semseg"][rows].long()
        instance = s["instance"][rows].long()
        normals = s["normals"][rows].float()
        present = torch.zeros(semseg.shape[0], self.num_classes, dtype=torch.bool)
        present.scatter_(1, semseg.flatten(1), True)
        centers, offsets = center_targets(instance)
        return {
            "image": s["image"][rows].float() / 255,
            "semseg": semseg,
            "depth": s["depth"][rows].float(),
            "edges": boundaries(instance).unsqueeze(1),
            "normals": normals / normals.norm(dim=1, keepdim=True),
            "instance": instance,
            "centers": centers,
            "offsets": offsets,
            "labels": present[:, 1:].float(),
        }

"""How the course backbone is made: `python -m mtl_course pretrain` calls `pretrain(PretrainSetup())`.

A UNet with two heads trained on the *source* domain of SyntheticScenes (grey floor and wall, no clutter) for
two tasks the lessons never ask of it: which shape classes are in the picture (multi-label) and a coarse
segmentation into shape families (round / angular). Only the encoder is saved; mtl_course.models.pretrained
loads it (build_model(..., pretrained="course")) and checks its SHA-256.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mtl_course._io import save_verified
from mtl_course.data import SyntheticScenes
from mtl_course.data.synthetic import cache_dir
from mtl_course.device import seed_everything
from mtl_course.lessons.setup import Setup, lesson_task
from mtl_course.models import build_model
from mtl_course.models.pretrained import FORMAT, describe, pretrained_dir, sha256_of
from mtl_course.tasks import Task, get_task
from mtl_course.train import evaluate, fit


@dataclass(frozen=True)
class PretrainSetup(Setup):
    """How the course backbone is trained (python -m mtl_course pretrain uses these defaults)."""

    encoder: str = "unet"
    tasks: tuple[str, ...] = ("labels", "families")
    size: int = 48
    n_train: int = 4096
    n_val: int = 512
    epochs: int = 6
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0


# the coarse source-domain segmentation task "families": background, round shapes, angular shapes
FAMILIES = ["background", "round (disc, ring)", "angular (box, triangle, star)"]
FAMILY_OF_CLASS = torch.tensor([0, 1, 2, 2, 1, 2])     # indexed by SyntheticScenes class id


def source_data(setup: PretrainSetup, n: int, split: str, domain: str) -> dict[str, torch.Tensor]:
    """SyntheticScenes tensors plus "families" [N, H, W]: each pixel's shape family (the coarse source task)."""
    tensors = dict(SyntheticScenes(n=n, size=setup.size, seed=setup.seed, split=split, domain=domain).tensors())
    tensors["families"] = FAMILY_OF_CLASS[tensors["semseg"]]
    return tensors


def source_task(name: str) -> Task:
    """A source task of the pretraining: "families" (coarse segmentation) or any lesson task name."""
    return get_task("semseg", num_classes=len(FAMILIES)).rename("families") if name == "families" else lesson_task(name)


def pretrain(setup: PretrainSetup = PretrainSetup(), out: str | Path | None = None,
             device: str | torch.device | None = "cpu", progress: bool | None = None) -> Path:
    """Train the course backbone on the source domain (multi-label shape classification) and save it.

    Deterministic: the same setup, platform and torch version give the same file, byte for byte, on
    the CPU (the default device; a GPU is faster but its kernels may round differently).
    Returns the path written: `out`, else <encoder>-course.pt in the package's assets folder (where
    pretrained="course" reads it) or, when that folder is read-only (an installed package), in the cache folder.
    """
    if out is None:
        folder = pretrained_dir() if os.access(pretrained_dir(), os.W_OK) else cache_dir() / "pretrained"
        out = folder / f"{setup.encoder}-course.pt"
    out = Path(out)
    tasks = [source_task(name) for name in setup.tasks]
    train = source_data(setup, setup.n_train, "train", "source")
    val = {domain: source_data(setup, setup.n_val, "val", domain) for domain in ("source", "target")}
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        seed_everything(setup.seed)
        model = build_model(tasks, encoder=setup.encoder)
        start = time.perf_counter()
        fit(model, tasks, train, epochs=setup.epochs, lr=setup.lr, batch_size=setup.batch_size, seed=setup.seed,
            device=device, progress=progress)
        seconds = time.perf_counter() - start
    finally:
        torch.use_deterministic_algorithms(deterministic)
    scores = {domain: evaluate(model, tasks, data, device=device) for domain, data in val.items()}
    # only the encoder ships: the decoder learned to separate shapes from the source domain's plain grey
    # backgrounds and fails on the target domain's coloured clutter, while the encoder's features transfer
    parts = ["encoder"]
    state = {f"encoder.{name}": t.detach().cpu().contiguous() for name, t in model.trunk.encoder.state_dict().items()}
    save_verified({"format": FORMAT, "encoder": setup.encoder, "parts": parts, "state_dict": state,
                   "setup": asdict(setup), "scores": scores}, out)
    print(f"pretrained the {setup.encoder} backbone in {seconds:.0f} s on {device}")
    print(describe({"parts": parts, "setup": asdict(setup), "scores": scores}))
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MB, SHA-256 {sha256_of(out)})")
    return out

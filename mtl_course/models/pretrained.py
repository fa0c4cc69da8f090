"""Pretrained backbones: the one the course ships (works offline) and torchvision's ImageNet weights.

The course backbone is a UNet encoder trained on the *source* domain of SyntheticScenes (grey floor and
wall, no clutter) for two tasks the lessons never ask of it: which shape classes are in the picture
(multi-label) and a coarse segmentation into shape families (round / angular). Lesson 05 transfers it
to the *target* domain and to fine semantic segmentation.

    python -m mtl_course pretrain                     # regenerate data/pretrained/unet-course.pt
    build_model(tasks, encoder="unet", pretrained="course")      # loads it and checks its SHA-256
    encoder, pretrained = best_pretrained()           # ImageNet ResNet-18 if its weights are on disk

The file holds {"format", "encoder": "unet", "parts": ["encoder"], "state_dict": {"encoder.<name>": tensor},
"setup": how it was trained, "scores": its source-task scores on both domains}, written with the course's
checksummed format (mtl_course._io).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from mtl_course._io import CorruptFileError, load_verified, save_verified

PRETRAINED_ENV = "MTL_COURSE_PRETRAINED"     # a folder to read course backbones from instead of data/pretrained
FORMAT = "mtl_course-backbone-1"


@dataclass(frozen=True)
class PretrainSetup:
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
    from mtl_course.data import SyntheticScenes

    tensors = dict(SyntheticScenes(n=n, size=setup.size, seed=setup.seed, split=split, domain=domain).tensors())
    tensors["families"] = FAMILY_OF_CLASS[tensors["semseg"]]
    return tensors


def source_task(name: str) -> Any:
    """A source task of the pretraining: "families" (coarse segmentation) or any lesson task name."""
    from mtl_course.baselines import lesson_task
    from mtl_course.tasks import get_task

    return get_task("semseg", num_classes=len(FAMILIES)).rename("families") if name == "families" else lesson_task(name)


# file name and SHA-256 of every shipped backbone; regenerating with PretrainSetup() on the same
# platform and torch version reproduces the file byte for byte
COURSE_BACKBONES: dict[str, tuple[str, str]] = {
    "unet": ("unet-course.pt", "4951b0744a2365a7cf1935eb07df5a80a95d505e83439c1d7a0bacf72e06b43f"),
}


def pretrained_dir() -> Path:
    """Where course backbones live: $MTL_COURSE_PRETRAINED, else data/pretrained/ in the course folder."""
    if os.environ.get(PRETRAINED_ENV):
        return Path(os.environ[PRETRAINED_ENV])
    return Path(__file__).resolve().parents[2] / "data" / "pretrained"


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _encoder_name(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    if config is not None:
        return config["encoder"]
    encoder = getattr(model, "encoder", model)
    return {"UNetEncoder": "unet", "ResNetEncoder": "resnet18"}.get(type(encoder).__name__, type(encoder).__name__)


def _backbones(model: nn.Module) -> list[dict[str, list[nn.Module]]]:
    """Per network in `model`: {"encoder": [module], "decoder": [its decoder(s)]} (sharing="none": one per task)."""
    nets = list(model.nets.values()) if hasattr(model, "nets") else [model]
    found = []
    for net in nets:
        if not hasattr(net, "encoder"):
            raise ValueError(f"{type(model).__name__} has no encoder to load weights into; use build_model")
        decoders = [net.decoder] if getattr(net, "decoder", None) is not None else list(net.decoders.values())
        found.append({"encoder": [net.encoder], "decoder": decoders})
    return found


def record_pretrained(model: nn.Module, modules: list[nn.Module]) -> None:
    """Remember the current weights of `modules` as model.pretrained_state {parameter name: tensor},
    keyed like model.named_parameters() (what transfer.L2SP keeps them close to)."""
    ids = {id(p) for module in modules for p in module.parameters()}
    model.pretrained_state = {name: p.detach().clone() for name, p in model.named_parameters() if id(p) in ids}


def load_backbone(model: nn.Module, path: str | Path, sha256: str | None = None) -> nn.Module:
    """Load a backbone file (written by `pretrain`) into the encoder and decoder(s) of `model`.

    Checks, each with its own error: the file exists, its SHA-256 is `sha256` (when given), it is a
    backbone file, and it was trained for this model's encoder architecture. Records the loaded
    weights as model.pretrained_state and what the file says about itself as model.backbone_info.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained backbone at {path}. The course ships it in data/pretrained/ "
                                f"(restore it with `git checkout data/pretrained`) or regenerates it with "
                                f"`python -m mtl_course pretrain`")
    if sha256 is not None and sha256_of(path) != sha256:
        raise CorruptFileError(f"{path} has SHA-256 {sha256_of(path)[:16]}…, but the course expects "
                               f"{sha256[:16]}…: the file was changed or regenerated with other settings. "
                               f"Restore it with `git checkout data/pretrained`, or load your own file with "
                               f"mtl_course.models.load_backbone(model, path)")
    data = load_verified(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CorruptFileError(f"{path} is not a backbone file written by `python -m mtl_course pretrain`")
    want = _encoder_name(model)
    if data["encoder"] != want:
        raise ValueError(f"{path.name} holds weights for encoder {data['encoder']!r}, but this model's encoder is "
                         f"{want!r}: build the model with encoder={data['encoder']!r}, or pretrain a backbone for "
                         f"{want!r} with `python -m mtl_course pretrain --encoder {want}`")
    loaded = []
    for backbone in _backbones(model):
        for part in data["parts"]:
            prefix = part + "."
            state = {k.removeprefix(prefix): v for k, v in data["state_dict"].items() if k.startswith(prefix)}
            for module in backbone[part]:
                try:
                    module.load_state_dict(state)
                except RuntimeError as err:
                    raise ValueError(f"the {part} in {path.name} does not fit this model's {part} (different "
                                     f"layer sizes?): {err}") from None
                loaded.append(module)
    record_pretrained(model, loaded)
    model.backbone_info = {"parts": list(data["parts"]), **{k: data[k] for k in ("setup", "scores") if k in data}}
    return model


def load_course_backbone(model: nn.Module, encoder: str) -> nn.Module:
    """Load the shipped course backbone for `encoder` into model (pretrained="course" in build_model)."""
    if encoder not in COURSE_BACKBONES:
        raise ValueError(f"the course ships a pretrained backbone for encoder {sorted(COURSE_BACKBONES)} only, "
                         f"not {encoder!r}; use encoder='unet' with pretrained='course', or "
                         f"pretrained='imagenet' for resnet18")
    name, digest = COURSE_BACKBONES[encoder]
    custom = bool(os.environ.get(PRETRAINED_ENV))    # a folder of your own: no fixed hash to check against
    return load_backbone(model, pretrained_dir() / name, None if custom else digest)


def imagenet_weights_file() -> Path:
    """Where torchvision looks for the ResNet-18 ImageNet weights (the torch hub cache)."""
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def best_pretrained(verbose: bool = True) -> tuple[str, str]:
    """The best pretrained backbone this machine has, as (encoder, pretrained) for build_model.

    ("resnet18", "imagenet") when torchvision's ImageNet weights are already on disk, otherwise
    ("unet", "course"), the backbone the course ships. Never downloads; says what it chose and why.
    """
    weights = imagenet_weights_file()
    if weights.is_file():
        choice, reason = ("resnet18", "imagenet"), f"found the ImageNet ResNet-18 weights at {weights}"
    else:
        choice = ("unet", "course")
        reason = (f"no ImageNet weights at {weights} (download them with internet, or copy the file there), "
                  f"so: the course-pretrained UNet encoder, trained on the source domain")
    if verbose:
        print(f"best pretrained backbone: encoder={choice[0]!r}, pretrained={choice[1]!r} ({reason})")
    return choice


def pretrain(setup: PretrainSetup = PretrainSetup(), out: str | Path | None = None,
             device: str | torch.device | None = "cpu", progress: bool | None = None) -> Path:
    """Train the course backbone on the source domain (multi-label shape classification) and save it.

    Deterministic: the same setup, platform and torch version give the same file, byte for byte, on
    the CPU (the default device; a GPU is faster but its kernels may round differently).
    Returns the path written: `out`, or data/pretrained/<encoder>-course.pt.
    """
    from mtl_course.device import seed_everything
    from mtl_course.models.build import build_model
    from mtl_course.train import evaluate, fit

    out = Path(out) if out is not None else pretrained_dir() / f"{setup.encoder}-course.pt"
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
    state = {f"{part}.{name}": t.detach().cpu().contiguous()
             for part in parts for name, t in getattr(model, part).state_dict().items()}
    save_verified({"format": FORMAT, "encoder": setup.encoder, "parts": parts, "state_dict": state,
                   "setup": asdict(setup), "scores": scores}, out)
    print(f"pretrained the {setup.encoder} backbone in {seconds:.0f} s on {device}")
    print(describe({"parts": parts, "setup": asdict(setup), "scores": scores}))
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MB, SHA-256 {sha256_of(out)})")
    return out


def describe(info: dict[str, Any]) -> str:
    """What a loaded course backbone is, in words (from model.backbone_info)."""
    setup, scores = info.get("setup", {}), info.get("scores", {})

    def score(domain: str, task: str, metric: str) -> str:
        value = scores.get(domain, {}).get(task, {}).get(metric)
        return f"{value:.2f}" if value is not None else "?"

    return (f"{setup.get('encoder')} {' + '.join(info.get('parts', []))} pretrained on {setup.get('n_train')} "
            f"source-domain scenes ({setup.get('size')}x{setup.get('size')}, {setup.get('epochs')} epochs) for "
            f"{' + '.join(setup.get('tasks', []))}.\n"
            f"  its shape-label F1:       {score('source', 'labels', 'f1')} on the source domain, "
            f"{score('target', 'labels', 'f1')} on the target domain\n"
            f"  its round/angular mIoU:   {score('source', 'families', 'miou')} on the source domain, "
            f"{score('target', 'families', 'miou')} on the target domain")

"""Pretrained backbones: the one the course ships (works offline) and torchvision's ImageNet weights.

The course backbone is a UNet encoder trained on the *source* domain of SyntheticScenes (grey floor and
wall, no clutter) for two tasks the lessons never ask of it: which shape classes are in the picture
(multi-label) and a coarse segmentation into shape families (round / angular). Lesson 05 transfers it
to the *target* domain and to fine semantic segmentation. How it is trained: mtl_course.lessons.pretrain.

    build_model(tasks, encoder="unet", pretrained="course")      # loads it and checks its SHA-256
    encoder, pretrained = best_pretrained()           # ImageNet ResNet-18 if its weights are on disk

The file holds {"format", "encoder": "unet", "parts": ["encoder"], "state_dict": {"encoder.<name>": tensor},
"setup": how it was trained, "scores": its source-task scores on both domains}, written with the course's
checksummed format (mtl_course._io).
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
import torchvision
from torch import nn

from mtl_course._io import CorruptFileError, load_verified
from mtl_course.models.decoder import Decoder
from mtl_course.models.encoders import ResNetEncoder, UNetEncoder
from mtl_course.models.multitask import MultiTaskNet

PRETRAINED_ENV = "MTL_COURSE_PRETRAINED"     # a folder to read course backbones from instead of the package's
FORMAT = "mtl_course-backbone-1"
ENCODER_NAMES = {UNetEncoder: "unet", ResNetEncoder: "resnet18"}

# file name and SHA-256 of every shipped backbone; regenerating with PretrainSetup() on the same
# platform and torch version reproduces the file byte for byte
COURSE_BACKBONES: dict[str, tuple[str, str]] = {
    "unet": ("unet-course.pt", "4951b0744a2365a7cf1935eb07df5a80a95d505e83439c1d7a0bacf72e06b43f"),
}


def pretrained_dir() -> Path:
    """Where course backbones live: $MTL_COURSE_PRETRAINED, else the package's own assets folder
    (mtl_course/assets/, package data: it is installed with the package, editable or not)."""
    if os.environ.get(PRETRAINED_ENV):
        return Path(os.environ[PRETRAINED_ENV])
    return Path(str(resources.files("mtl_course") / "assets"))


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def imagenet_weights_file() -> Path:
    """Where torchvision looks for the ResNet-18 ImageNet weights (the torch hub cache)."""
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def imagenet_weights() -> torchvision.models.ResNet18_Weights:
    """torchvision's ImageNet weights for ResNet-18, loaded now so an offline machine fails early."""
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    try:
        weights.get_state_dict(progress=False)
    except (URLError, OSError, RuntimeError) as err:
        raise RuntimeError(
            f"pretrained='imagenet' needs the ResNet-18 ImageNet weights, which could not be downloaded "
            f"({type(err).__name__}: {err}). If you are offline, download {weights.url} on a machine "
            f"with internet and put it at {imagenet_weights_file()}; or train from scratch with pretrained=None.") from err
    return weights


def encoders(model: MultiTaskNet) -> list[nn.Module]:
    """The encoders in `model`: the shared one, or one per task (sharing="none" or "cross_stitch")."""
    found = [m for m in model.modules() if isinstance(m, (UNetEncoder, ResNetEncoder))]
    if not found:
        raise ValueError(f"{type(model).__name__} has no encoder to load weights into; use build_model")
    return found


def record_pretrained(model: MultiTaskNet, modules: list[nn.Module]) -> None:
    """Remember the current weights of `modules` as model.pretrained_state {parameter name: tensor},
    keyed like model.named_parameters() (what transfer.L2SP keeps them close to)."""
    ids = {id(p) for module in modules for p in module.parameters()}
    model.pretrained_state = {name: p.detach().clone() for name, p in model.named_parameters() if id(p) in ids}


def load_backbone(model: MultiTaskNet, path: str | Path, sha256: str | None = None) -> MultiTaskNet:
    """Load a backbone file (written by `python -m mtl_course pretrain`) into the encoder and decoder(s) of `model`.

    Checks, each with its own error: the file exists, its SHA-256 is `sha256` (when given), it is a
    backbone file, and it was trained for this model's encoder architecture. Records the loaded
    weights as model.pretrained_state and what the file says about itself as model.backbone_info.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained backbone at {path}. The course ships it inside the package "
                                f"(mtl_course/assets/): reinstall the course (`pip install --force-reinstall "
                                f"mtl-course`, or `git checkout mtl_course/assets` in a checkout), or regenerate it "
                                f"with `python -m mtl_course pretrain`")
    if sha256 is not None and sha256_of(path) != sha256:
        raise CorruptFileError(f"{path} has SHA-256 {sha256_of(path)[:16]}…, but the course expects "
                               f"{sha256[:16]}…: the file was changed or regenerated with other settings. "
                               f"Restore it (reinstall the course, or `git checkout mtl_course/assets`), or "
                               f"load your own file with "
                               f"mtl_course.models.load_backbone(model, path)")
    data = load_verified(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CorruptFileError(f"{path} is not a backbone file written by `python -m mtl_course pretrain`")
    found = encoders(model)
    want = ENCODER_NAMES[type(found[0])]
    if data["encoder"] != want:
        raise ValueError(f"{path.name} holds weights for encoder {data['encoder']!r}, but this model's encoder is "
                         f"{want!r}: build the model with encoder={data['encoder']!r}, or pretrain a backbone for "
                         f"{want!r} with `python -m mtl_course pretrain --encoder {want}`")
    loaded = []
    parts = {"encoder": found, "decoder": [m for m in model.modules() if isinstance(m, Decoder)]}
    for part in data["parts"]:                   # each encoder (decoder) of the model starts from the file's
        prefix = part + "."
        state = {k.removeprefix(prefix): v for k, v in data["state_dict"].items() if k.startswith(prefix)}
        for module in parts[part]:
            try:
                module.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"the {part} in {path.name} does not fit this model's {part} (different "
                                 f"layer sizes?): {err}") from None
            loaded.append(module)
    record_pretrained(model, loaded)
    model.backbone_info = {"parts": list(data["parts"]), **{k: data[k] for k in ("setup", "scores") if k in data}}
    return model


def load_course_backbone(model: MultiTaskNet, encoder: str) -> MultiTaskNet:
    """Load the shipped course backbone for `encoder` into model (pretrained="course" in build_model)."""
    if encoder not in COURSE_BACKBONES:
        raise ValueError(f"the course ships a pretrained backbone for encoder {sorted(COURSE_BACKBONES)} only, "
                         f"not {encoder!r}; use encoder='unet' with pretrained='course', or "
                         f"pretrained='imagenet' for resnet18")
    name, digest = COURSE_BACKBONES[encoder]
    custom = bool(os.environ.get(PRETRAINED_ENV))    # a folder of your own: no fixed hash to check against
    return load_backbone(model, pretrained_dir() / name, None if custom else digest)


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

"""Save a trained model with what is needed to rebuild it; load it back safely.

A checkpoint holds the model's config (tasks, encoder, sharing...), its weights and optionally
its History (read back with load_history). It is written atomically (a crash mid-write never leaves half a file) with a SHA-256
checksum, and read with torch.load(weights_only=True), so a damaged or edited file is refused
with a clear message and a file from elsewhere cannot run code.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mtl_course._io import CorruptFileError, load_verified, save_verified
from mtl_course.models import MultiTaskNet, build_model
from mtl_course.tasks import get_task
from mtl_course.train.history import History

FORMAT = "mtl_course.checkpoint/1"


def save_checkpoint(model: MultiTaskNet, path: str | Path, history: History | None = None) -> Path:
    """Write model (built by build_model) and optionally its training history to path."""
    config = model.config if isinstance(model, MultiTaskNet) else None
    if not config:
        raise ValueError("save_checkpoint needs a model made by build_model: this one has no .config "
                         "to rebuild it from")
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    save_verified({"format": FORMAT, "config": config, "state_dict": state,
                   "history": history.to_dict() if history is not None else None}, path)
    return Path(path)


def _read(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path, or train a model and call "
                                f"save_checkpoint(model, {str(path)!r}) first")
    try:
        data = load_verified(path)
    except CorruptFileError as err:
        raise CorruptFileError(f"cannot load the checkpoint: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CorruptFileError(f"{path} is an mtl_course file but not a model checkpoint")
    return data


def load_checkpoint(path: str | Path, device: str | torch.device | None = "cpu") -> MultiTaskNet:
    """Rebuild the model saved at path (on `device`)."""
    data = _read(path)
    config = data["config"]
    model = build_model([get_task(**spec) for spec in config["tasks"]], encoder=config["encoder"],
                        sharing=config["sharing"], branch=config["branch"],
                        width=config.get("width", 1.0))
    model.config = config
    model.load_state_dict(data["state_dict"])
    return model.to(device) if device is not None else model


def load_history(path: str | Path) -> History | None:
    """The History saved with the model at path, or None if it was saved without one."""
    data = _read(path)
    return History(**data["history"]) if data.get("history") is not None else None

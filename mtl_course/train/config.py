"""Train from a small TOML file: python -m mtl_course train CONFIG (on one process, or several under torchrun).

    [data]   name = "synthetic" | "folder" | "oxford_pets" | "voc" | "cityscapes", size, and either n_train/n_val
             (synthetic) or root (+ classes, void ("none": no unlabelled value), mapping for a folder;
             train_split/val_split)
    [model]  encoder, sharing, width
    [train]  tasks, weighting, epochs, batch_size (per process), lr, weight_decay, schedule, seed, workers, out

The run writes OUT/last.pt after every epoch (fit's checkpoint: started again, it resumes from there) and, at the
end, OUT/model.pt (save_checkpoint: load_checkpoint reads it). See configs/example.toml.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from mtl_course.data import SyntheticScenes, load_dataset
from mtl_course.data.load import SPLITS
from mtl_course.models import MultiTaskNet, build_model
from mtl_course.tasks import Task, get_task
from mtl_course.train.checkpoint import save_checkpoint
from mtl_course.train.distributed import world
from mtl_course.train.history import History
from mtl_course.train.loop import fit

if sys.version_info >= (3, 11):
    import tomllib
else:                                          # Python 3.10: the same parser, as a package
    import tomli as tomllib

SECTIONS = {
    "data": {"name", "root", "size", "n_train", "n_val", "seed", "train_split", "val_split", "classes", "void",
             "mapping"},
    "model": {"encoder", "sharing", "width"},
    "train": {"tasks", "weighting", "epochs", "batch_size", "lr", "weight_decay", "schedule", "seed", "workers",
              "out", "keep_best", "device"},
}
NEED_CLASSES = ("semseg", "labels")


def read_config(path: str | Path) -> dict[str, dict[str, Any]]:
    """The config as {section: {key: value}}, after checking that every section and key is known."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}; see configs/example.toml for one that works")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path} is not valid TOML: {err}") from None
    for section, values in config.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise ValueError(f"{path}: unknown section [{section}]; a config has the sections {sorted(SECTIONS)}")
        unknown = set(values) - SECTIONS[section]
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {sorted(unknown)} in [{section}]; known: "
                             f"{sorted(SECTIONS[section])}")
    if "tasks" not in config.get("train", {}):
        raise ValueError(f"{path}: [train] needs tasks = [...], e.g. tasks = [\"semseg\", \"edges\"]")
    return {section: dict(config.get(section, {})) for section in SECTIONS}


def build_data(data: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    """(train split, val split, class names) as the [data] section describes."""
    name, size = data.get("name", "synthetic"), data.get("size", 32)
    if name == "synthetic":
        seed = data.get("seed", 0)
        train = SyntheticScenes(n=data.get("n_train", 256), size=size, seed=seed, split="train")
        val = SyntheticScenes(n=data.get("n_val", 128), size=size, seed=seed, split="val")
        return train, val, train.classes
    if "root" not in data:
        raise ValueError(f"[data] name = {name!r} needs root = \"...\" (the folder that holds the dataset)")
    extra = {k: data[k] for k in ("classes", "void", "mapping") if k in data}
    if "mapping" in extra:
        extra["mapping"] = {int(k): v for k, v in extra["mapping"].items()}    # TOML keys are strings
    if extra.get("void") == "none":                                              # TOML has no None
        extra["void"] = None
    splits = SPLITS.get(name, ("train", "val"))          # the dataset's (train, val) splits; a folder: train, val
    train = load_dataset(name, data["root"], data.get("train_split", splits[0]), size=size, **extra)
    if name == "folder":
        extra["classes"] = train.classes                 # the same classes, even where val lacks the largest id
    val = load_dataset(name, data["root"], data.get("val_split", splits[1]), size=size, **extra)
    return train, val, train.classes


def build_tasks(names: list[str], classes: list[str], sample: dict[str, torch.Tensor]) -> list[Task]:
    """The tasks named in the config (semseg and labels with the dataset's class count), if its samples have them."""
    missing = [n for n in names if n not in sample]
    if missing:
        targets = sorted(k for k in sample if k != "image")
        raise ValueError(f"the dataset has no {missing} targets; its samples hold {targets}")
    return [get_task(n, num_classes=len(classes)) if n in NEED_CLASSES else get_task(n) for n in names]


def train_from_config(path: str | Path, out: str | Path | None = None,
                      epochs: int | None = None) -> tuple[MultiTaskNet, History]:
    """Train as the config at `path` says; returns (model, history). out, epochs: override [train]'s."""
    config = read_config(path)
    settings = config["train"]
    out = Path(out or settings.get("out", "runs/" + Path(path).stem))
    train, val, classes = build_data(config["data"])
    tasks = build_tasks(list(settings["tasks"]), classes, train[0])
    seed = settings.get("seed", 0)
    model = build_model(tasks, seed=seed, **config["model"])
    history = fit(model, tasks, train, val, epochs=epochs or settings.get("epochs", 5),
                  batch_size=settings.get("batch_size", 16), lr=settings.get("lr", 1e-3),
                  weight_decay=settings.get("weight_decay", 0.0), weighting=settings.get("weighting", "equal"),
                  schedule=settings.get("schedule"), keep_best=settings.get("keep_best"), seed=seed,
                  workers=settings.get("workers", 0), device=settings.get("device"), checkpoint=out / "last.pt")
    rank, processes = world()
    if rank == 0:
        save_checkpoint(model, out / "model.pt", history)
        print(f"trained on {processes} process(es); {len(train)} training samples; model written to "
              f"{out / 'model.pt'}")
        for i, epoch in enumerate(history.epochs):
            scores = "  ".join(f"{t.name} {t.primary_metric} {history.val_metrics[t.name][t.primary_metric][i]:.3f}"
                               for t in tasks)
            print(f"epoch {epoch}: {scores}")
    return model, history

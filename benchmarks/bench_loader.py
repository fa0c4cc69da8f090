"""Images/s of fit when the data is held in memory vs read from PNG files by a DataLoader (0, 1, 2... workers).

A folder dataset (load_dataset("folder", ...)) of --n scenes saved as PNGs is read three ways: stacked once in
memory (the default for data that fits), and streamed through the DataLoader path with each number of workers
(what fit does for data too big to stack, or with random transforms). Reading alone (no model) is timed too.

    python benchmarks/bench_loader.py [--n 512] [--size 64] [--epochs 2] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from mtl_course.data import SyntheticScenes, load_dataset, write_folder
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import fit
from mtl_course.train.batches import Batches


class Streamed(torch.utils.data.Dataset):
    """The folder dataset, marked not stackable: fit reads it file by file every epoch."""

    stackable = False

    def __init__(self, data: torch.utils.data.Dataset) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict:
        return self.data[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    scenes = SyntheticScenes(n=args.n, size=args.size, seed=0).tensors()
    root = tempfile.mkdtemp(prefix="bench-loader-")
    write_folder(scenes["image"], scenes["semseg"], root)
    folder = load_dataset("folder", root, classes=SyntheticScenes(n=1, size=32).classes)
    tasks = [get_task("semseg", num_classes=len(folder.classes)), get_task("edges")]
    keys = ["image", "semseg", "edges"]
    print(f"{args.n} PNG scenes {args.size}x{args.size}, batch {args.batch_size}, {args.epochs} epochs, "
          f"{torch.get_num_threads()} threads")
    print(f"{'path':<28}{'reading alone, img/s':>22}{'fit, img/s':>14}")
    runs = [("in memory (stacked once)", folder, 0)] + [(f"DataLoader, {w} worker(s)", Streamed(folder), w)
                                                       for w in args.workers]
    for label, data, workers in runs:
        resident = None
        start = time.perf_counter()
        if data is folder:
            resident = {k: torch.stack([folder[i][k] for i in range(len(folder))]) for k in keys}
        batches = Batches(data, resident, keys, args.batch_size, torch.device("cpu"), shuffle=True,
                          generator=torch.Generator().manual_seed(0), drop_last=True, workers=workers)
        read = sum(len(b["image"]) for _ in range(args.epochs) for b in batches)
        reading = read / (time.perf_counter() - start)
        model = build_model(tasks, seed=0)
        history = fit(model, tasks, data, epochs=args.epochs, batch_size=args.batch_size, workers=workers,
                      progress=False)
        training = history.steps_per_epoch * args.batch_size * args.epochs / sum(history.train_seconds)
        print(f"{label:<28}{reading:>22,.0f}{training:>14,.0f}")


if __name__ == "__main__":
    main()

"""fit's overhead: its throughput next to a bare hand-written loop on the same model and data.

Both loops train a fresh 3-task UNet (semseg, depth, edges) with AdamW, channels_last, and on CUDA
bf16 autocast; they alternate (bare, fit, then fit, bare, ...) so drifts in machine speed hit both alike.
Target: fit within 5 % of the bare loop on a CPU. On a GPU, fit's defaults should reach >= 13 k img/s
for this UNet at 64x64 with batch 256.

    python benchmarks/bench_trainer.py [--n 512] [--batch 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

import mtl_course as mc
from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import fit


def tasks() -> list:
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges")]


def bare_loop(data: dict, batch: int, device: torch.device) -> float:
    """The smallest correct training loop; returns images per second."""
    mc.seed_everything(0)
    task_list = tasks()
    model = build_model(task_list).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    resident = {k: v.to(device) for k, v in data.items()}
    n = len(resident["image"]) // batch * batch
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    order = torch.randperm(len(resident["image"]))
    for i in range(0, n, batch):
        index = order[i:i + batch].to(device)
        images = resident["image"][index].contiguous(memory_format=torch.channels_last)
        with autocast:
            outputs = model(images)
        loss = sum(t.loss(outputs[t.name], resident[t.target][index]) for t in task_list)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync()
    return n / (time.perf_counter() - start)


def fit_loop(data: dict, batch: int, device: torch.device) -> float:
    mc.seed_everything(0)
    task_list = tasks()
    model = build_model(task_list)
    n = len(data["image"]) // batch * batch
    history = fit(model, task_list, data, epochs=1, batch_size=batch, lr=1e-3, device=device, progress=False)
    return n / history.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=None, help="scenes per epoch (default 512 CPU, 16384 GPU)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32 CPU, 256 GPU)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = mc.get_device()
    gpu = device.type == "cuda"
    n, batch = args.n or (16384 if gpu else 512), args.batch or (256 if gpu else 32)
    data = SyntheticScenes(n=n, size=args.size).tensors()
    data = {k: data[k] for k in ("image", "semseg", "depth", "edges")}
    bare_loop(data, batch, device)                                      # warm-up (allocator, kernels)
    bare, fitted = [], []
    for round_ in range(args.rounds):         # alternate which goes first, so order cannot bias the ratio
        if round_ % 2:
            fitted.append(fit_loop(data, batch, device))
            bare.append(bare_loop(data, batch, device))
        else:
            bare.append(bare_loop(data, batch, device))
            fitted.append(fit_loop(data, batch, device))
    b, f = statistics.median(bare), statistics.median(fitted)
    print(f"device {device}, {torch.get_num_threads()} CPU threads, UNet with 3 tasks, {args.size}x{args.size}, "
          f"batch {batch}, {n} images per epoch, {args.rounds} rounds")
    print(f"  bare loop: {b:,.0f} img/s   (rounds: {', '.join(f'{x:,.0f}' for x in bare)})")
    print(f"  fit:       {f:,.0f} img/s   (rounds: {', '.join(f'{x:,.0f}' for x in fitted)})")
    print(f"  fit / bare = {f / b:.3f}  -> overhead {100 * (1 - f / b):+.1f} %  (target <= 5 %)")


if __name__ == "__main__":
    main()

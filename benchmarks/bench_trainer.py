"""fit against hand-tuned training loops, in the same run and on the same data: images per second.

    tuned eager      the fastest plain loop we know how to write: data resident on the device, channels_last,
                     bf16 autocast (CUDA), fused AdamW (CUDA), zero_grad(set_to_none=True), no host sync per step
    tuned compiled   the same loop on torch.compile(model)
    fit              fit's defaults
    fit compile      fit(..., compile=True)

Every run trains a fresh 3-task UNet (semseg, depth, edges) for 2 epochs and is timed on its second epoch
(after torch.compile has compiled), the device synchronised before and after. Runs alternate their order over
rounds so that drifts in machine speed hit all alike; the median round is shown, and the peak GPU memory.
Images are the synthetic scenes at 64x64, upsampled for the larger sizes (speed does not depend on content).
Targets (issue #15, one H100): fit >= 95 % of tuned eager; fit(compile=True) >= 90 % of tuned compiled.
On a CPU: fit within 5 % of tuned eager.

    python benchmarks/bench_trainer.py [--sizes 64 128 256] [--batch 256] [--steps 64] [--rounds 3] [--compile]
    --batch is the batch at 64x64; larger images use batch * (64 / size)^2 (the same pixels per step).
    --compile: also the compiled runs (default on a GPU; on a CPU each compile takes about a minute)
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

import mtl_course as mc
from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import fit

KEYS = ("image", "semseg", "depth", "edges")


def tasks() -> list:
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges")]


def scenes(n: int, size: int) -> dict[str, torch.Tensor]:
    """n synthetic scenes at size x size (rendered at 64x64, then upsampled: bilinear images, nearest targets)."""
    data = SyntheticScenes(n=n, size=64).tensors()
    data = {k: data[k] for k in KEYS}
    if size == 64:
        return data
    image = F.interpolate(data["image"], size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    nearest = {k: F.interpolate(data[k].unsqueeze(1).float() if data[k].dim() == 3 else data[k].float(),
                                size=(size, size), mode="nearest") for k in KEYS[1:]}
    return {"image": image, "semseg": nearest["semseg"][:, 0].long(), "depth": nearest["depth"],
            "edges": nearest["edges"]}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None


def tuned_loop(data: dict, batch: int, device: torch.device, compiled: bool) -> float:
    """Images per second in the second epoch of the hand-tuned loop."""
    mc.seed_everything(0)
    task_list = tasks()
    model = build_model(task_list).to(device, memory_format=torch.channels_last)
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    resident = {k: v.to(device) for k, v in data.items()}
    resident["image"] = resident["image"].contiguous(memory_format=torch.channels_last)
    n = len(resident["image"]) // batch * batch
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    for _ in range(2):
        order = torch.randperm(len(resident["image"]), device=device)
        sync(device)
        start = time.perf_counter()
        for i in range(0, n, batch):
            index = order[i:i + batch]
            with autocast:
                outputs = forward(resident["image"][index])
            loss = sum(t.loss(outputs[t.name], resident[t.target][index]) for t in task_list)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync(device)
        seconds = time.perf_counter() - start
    return n / seconds


def fit_loop(data: dict, batch: int, device: torch.device, compiled: bool) -> float:
    """Images per second in fit's second epoch (its train_seconds: the device synchronised at the epoch's end)."""
    mc.seed_everything(0)
    task_list = tasks()
    model = build_model(task_list)
    n = len(data["image"]) // batch * batch
    history = fit(model, task_list, data, epochs=2, batch_size=batch, lr=1e-3, device=device, progress=False,
                  compile=compiled)
    return n / history.train_seconds[-1]


RUNS = {"tuned eager": (tuned_loop, False), "fit": (fit_loop, False),
        "tuned compiled": (tuned_loop, True), "fit compile": (fit_loop, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="default 64 128 256 (GPU), 64 (CPU)")
    parser.add_argument("--batch", type=int, default=None, help="batch at 64x64 (default 256 GPU, 32 CPU)")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (default 64 GPU, 16 CPU)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also the compiled runs (always on a GPU)")
    args = parser.parse_args()
    device = mc.get_device()
    gpu = device.type == "cuda"
    sizes = args.sizes or ([64, 128, 256] if gpu else [64])
    base_batch, steps = args.batch or (256 if gpu else 32), args.steps or (64 if gpu else 16)
    runs = [name for name in RUNS if gpu or args.compile or not RUNS[name][1]]
    print(f"device {device}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}, UNet with 3 tasks, "
          f"{steps} steps per epoch, second of 2 epochs timed, median of {args.rounds} rounds")
    print(f"{'size':>6s}{'batch':>7s}  {'run':16s}{'img/s':>10s}  {'rounds':28s}{'peak MiB':>10s}")
    for size in sizes:
        batch = max(1, base_batch * 64 * 64 // (size * size))
        data = scenes(batch * steps, size)
        speed: dict[str, list[float]] = {name: [] for name in runs}
        memory: dict[str, float | None] = {}
        for round_ in range(args.rounds):
            for name in (runs if round_ % 2 == 0 else runs[::-1]):
                if gpu:
                    torch.cuda.reset_peak_memory_stats(device)
                loop, compiled = RUNS[name]
                speed[name].append(loop(data, batch, device, compiled))
                memory[name] = peak_mib(device)
        median = {name: statistics.median(values) for name, values in speed.items()}
        for name in runs:
            rounds = ", ".join(f"{v:,.0f}" for v in speed[name])
            mib = f"{memory[name]:10,.0f}" if memory[name] is not None else f"{'-':>10s}"
            print(f"{size:6d}{batch:7d}  {name:16s}{median[name]:10,.0f}  {rounds:28s}{mib}")
        eager = median["fit"] / median["tuned eager"]
        line = f"{'':13s}fit / tuned eager = {eager:.3f} (target >= {0.95 if gpu else 0.95:.2f})"
        if "fit compile" in median:
            line += f";  fit compile / tuned compiled = {median['fit compile'] / median['tuned compiled']:.3f} " \
                    f"(target >= 0.90)"
        print(line)


if __name__ == "__main__":
    main()

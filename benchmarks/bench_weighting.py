"""What each weighting strategy costs: training-step time relative to equal weighting, same model and data.

Gradient-based strategies (and GradNorm) need each task's gradient of the shared part. At
grad_level="params" that is one backward pass per task through the whole shared network; at
grad_level="features" (MGDA-UB style) the per-task passes stop at the shared features. Target: the
features level within 1.3x of equal weighting; params level within (T + 1) / 2 x (on a GPU, with the T
backward passes batched into one). Each gradient strategy is timed with the per-task gradients taken one
backward pass at a time ("loop") and in one batched call ("batched": is_grads_batched, the GPU's default).
On a GPU the peak memory of each run is printed too.

    python benchmarks/bench_weighting.py [--n 256] [--batch 32] [--size 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics

import torch

import mtl_course as mc
from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import fit, gradients
from mtl_course.weighting import WEIGHTINGS, get_weighting

TARGET = 1.3


def step_seconds(data: dict, name: str, level: str, mode: str, batch: int, device) -> tuple[float, float | None]:
    """Seconds per training step and peak MiB (GPU) of one epoch; mode "loop" or "batched" per-task gradients."""
    gradients.BATCHED_ON = (device.type,) if mode == "batched" else ()
    mc.seed_everything(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tasks = [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges")]
    model = build_model(tasks)
    weighting = {"semseg": 1.0, "depth": 1.0, "edges": 1.0} if name == "fixed" else get_weighting(name)
    history = fit(model, tasks, data, epochs=1, batch_size=batch, weighting=weighting, grad_level=level,
                  device=device, progress=False)
    return history.seconds_per_step, history.peak_memory_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=None, help="scenes per run (default 256 CPU, 8192 GPU)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32 CPU, 256 GPU)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = mc.get_device()
    gpu = device.type == "cuda"
    n, batch = args.n or (8192 if gpu else 256), args.batch or (256 if gpu else 32)
    data = SyntheticScenes(n=n, size=args.size).tensors()
    data = {k: data[k] for k in ("image", "semseg", "depth", "edges")}
    runs = [("equal", "params", "-")] + [(name, level, mode) for name in WEIGHTINGS if name != "equal"
                                         for level in (("params", "features") if get_weighting_needs_grads(name)
                                                       else ("params",))
                                         for mode in (("loop", "batched") if get_weighting_needs_grads(name)
                                                      else ("-",))]
    step_seconds(data, "equal", "params", "-", batch, device)                       # warm-up
    times: dict[tuple[str, str, str], list[float]] = {run: [] for run in runs}
    memory: dict[tuple[str, str, str], float | None] = {}
    for round_ in range(args.rounds):
        for run in (runs if round_ % 2 == 0 else runs[::-1]):      # alternate the order against drift
            seconds, memory[run] = step_seconds(data, *run, batch, device)
            times[run].append(seconds)
    equal = statistics.median(times[("equal", "params", "-")])
    print(f"device {device}, UNet with 3 tasks, {args.size}x{args.size}, batch {batch}, {n // batch} steps per run, "
          f"median of {args.rounds} rounds")
    print(f"{'strategy':12s}{'level':10s}{'grads':9s}{'ms/step':>9s}{'x equal':>9s}"
          + (f"{'peak MiB':>10s}" if gpu else ""))
    worst = {("features", mode): 0.0 for mode in ("loop", "batched")}
    worst.update({("params", mode): 0.0 for mode in ("loop", "batched")})
    for run in runs:
        ms = 1000 * statistics.median(times[run])
        ratio = statistics.median(times[run]) / equal
        if run[2] != "-" and run[0] != "gradnorm":
            worst[run[1], run[2]] = max(worst[run[1], run[2]], ratio)
        level = run[1] if get_weighting_needs_grads(run[0]) else "-"
        print(f"{run[0]:12s}{level:10s}{run[2]:9s}{ms:9.1f}{ratio:9.2f}" + (f"{memory[run]:10.0f}" if gpu else ""))
    params_target = (3 + 1) / 2
    print()
    for (level, mode), ratio in worst.items():
        target = TARGET if level == "features" else params_target
        print(f"slowest {level}-level gradient method, {mode} gradients: {ratio:.2f}x equal "
              f"(target <= {target:g}x): {'holds' if ratio <= target else 'MISSED'}")


def get_weighting_needs_grads(name: str) -> bool:
    return name != "fixed" and get_weighting(name).needs_grads


if __name__ == "__main__":
    main()

"""The largest training batch that fits in the GPU's memory at 256x256, for the small UNet and for ResNet-18.

For each model: one training step of fit's plain step (3 tasks, equal weighting, bf16 autocast, fused AdamW) at
growing batch sizes (doubling, then bisection to within 5 %), catching torch.cuda.OutOfMemoryError; prints the
largest batch that trained and its peak memory, and the peak memory per image. Needs a CUDA GPU.
(Per-strategy peak memory at the usual sizes: benchmarks/bench_weighting.py.)

    python benchmarks/bench_memory.py [--size 256] [--encoders unet resnet18] [--limit 65536]
"""

from __future__ import annotations

import argparse
import gc

import torch

import mtl_course as mc
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import plain_step
from mtl_course.weighting import get_weighting


def fits(encoder: str, batch: int, size: int, device: torch.device) -> float | None:
    """Peak MiB of two training steps at this batch, or None if it ran out of memory."""
    tasks = [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges")]
    model = optimizer = batch_data = None
    try:
        mc.seed_everything(0)
        model = build_model(tasks, encoder=encoder).to(device, memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
        batch_data = {"image": torch.rand(batch, 3, size, size, device=device),
                      "semseg": torch.randint(0, 6, (batch, size, size), device=device),
                      "depth": torch.rand(batch, 1, size, size, device=device) * 10,
                      "edges": (torch.rand(batch, 1, size, size, device=device) > 0.9).float()}
        weighting = get_weighting("equal")
        weighting.setup([t.name for t in tasks], device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(2):
            plain_step(model, tasks, batch_data, weighting, optimizer)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    except torch.cuda.OutOfMemoryError:
        return None
    finally:
        del model, optimizer, batch_data
        gc.collect()
        torch.cuda.empty_cache()


def largest_batch(encoder: str, size: int, device: torch.device, limit: int) -> tuple[int, float, bool]:
    """(largest batch that trained, its peak MiB, whether the search stopped at `limit` without running out)."""
    good, peak, bad = 0, 0.0, None
    batch = 8
    while batch <= limit:                                    # doubling
        result = fits(encoder, batch, size, device)
        if result is None:
            bad = batch
            break
        good, peak, batch = batch, result, batch * 2
    while bad is not None and bad - good > max(1, good // 20):   # bisection to within 5 %
        middle = (good + bad) // 2
        result = fits(encoder, middle, size, device)
        if result is None:
            bad = middle
        else:
            good, peak = middle, result
    return good, peak, bad is None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--encoders", nargs="+", default=["unet", "resnet18"])
    parser.add_argument("--limit", type=int, default=65536, help="stop doubling here")
    args = parser.parse_args()
    device = mc.get_device()
    if device.type != "cuda":
        raise SystemExit("bench_memory needs a CUDA GPU (it measures the GPU's memory)")
    total = torch.cuda.get_device_properties(device).total_memory / 2 ** 30
    print(f"{torch.cuda.get_device_name(device)} ({total:.0f} GiB), {args.size}x{args.size}, 3 tasks, bf16 autocast, "
          f"fused AdamW")
    print(f"{'encoder':10s}{'largest batch':>15s}{'peak GiB':>10s}{'MiB/image':>11s}")
    for encoder in args.encoders:
        batch, peak, at_limit = largest_batch(encoder, args.size, device, args.limit)
        print(f"{encoder:10s}{batch:15d}{peak / 1024:10.1f}{peak / max(batch, 1):11.1f}"
              + ("  (stopped at --limit: raise it)" if at_limit else ""))


if __name__ == "__main__":
    main()

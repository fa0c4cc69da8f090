"""What sharing saves at inference: one multi-task network against one single-task network per task.

For semseg + depth + edges at 64x64: per-image latency (median of repeated runs after a warm-up) at batch 1 and
batch 16, in PyTorch eager (eval, no_grad), torch.compile (--compile; its compile time is printed apart) and ONNX
Runtime (when the deploy extra is installed), and the weights' size. Run it alone: other CPU work distorts it.

    python benchmarks/bench_inference.py [--size 64] [--repeats 30] [--compile]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from mtl_course.lessons.deploy import median_ms
from mtl_course.models import build_model, count_parameters
from mtl_course.tasks import get_task

TASKS = ("semseg", "depth", "edges")


def task(name: str):
    return get_task(name, num_classes=6) if name == "semseg" else get_task(name)


def eager(models: list[torch.nn.Module]) -> Callable[[torch.Tensor], None]:
    def run(x: torch.Tensor) -> None:
        with torch.no_grad():
            for model in models:
                model(x)
    return run


def onnx_runner(models: list[torch.nn.Module], size: int, folder: Path) -> Callable[[torch.Tensor], None] | None:
    try:
        from mtl_course.export import onnx_session, run_onnx, to_onnx
        sessions = [onnx_session(to_onnx(m, folder / f"model{i}.onnx", size=size)) for i, m in enumerate(models)]
    except ImportError as err:
        print(f"(ONNX Runtime skipped: {err})")
        return None

    def run(x: torch.Tensor) -> None:
        for session in sessions:
            run_onnx(session, x)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}x{args.size}, "
          f"median of {args.repeats} runs after 5 warm-up runs")
    variants = {"one multi-task network": [build_model([task(n) for n in TASKS], seed=0).eval()],
                "one network per task": [build_model([task(n)], seed=0).eval() for n in TASKS]}
    with tempfile.TemporaryDirectory() as folder:
        rows = []
        for name, models in variants.items():
            megabytes = sum(4 * count_parameters(m) for m in models) / 2**20
            backends = {"eager": eager(models)}
            if args.compile:
                compiled = [torch.compile(m) for m in models]
                start = time.perf_counter()
                eager(compiled)(torch.rand(1, 3, args.size, args.size))
                eager(compiled)(torch.rand(16, 3, args.size, args.size))
                print(f"{name}: torch.compile took {time.perf_counter() - start:.1f} s to compile")
                backends["torch.compile"] = eager(compiled)
            runner = onnx_runner(models, args.size, Path(folder) / name.replace(" ", "-"))
            if runner is not None:
                backends["ONNX Runtime"] = runner
            for backend, run in backends.items():
                for batch in (1, 16):
                    x = torch.rand(batch, 3, args.size, args.size)
                    ms = median_ms(lambda: run(x), args.repeats, warmup=5)
                    rows.append((name, backend, batch, ms / batch, megabytes))
    print(f"\n{'':24s}{'backend':15s}{'batch':>6s}{'ms / image':>12s}{'weights (MB)':>14s}")
    for name, backend, batch, ms, megabytes in rows:
        print(f"{name:24s}{backend:15s}{batch:>6d}{ms:>12.2f}{megabytes:>14.1f}")


if __name__ == "__main__":
    main()

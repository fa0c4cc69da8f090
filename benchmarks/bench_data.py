"""How fast SyntheticScenes draws scenes (no cache). Target: >= 1,000 scenes/s at 64x64 on 2 CPU cores.

    python benchmarks/bench_data.py [--n 2048] [--size 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mtl_course.data import SyntheticScenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    SyntheticScenes(n=64, size=args.size, cache=False)                      # warm-up
    rates = []
    for seed in range(args.repeats):
        start = time.perf_counter()
        SyntheticScenes(n=args.n, size=args.size, seed=seed, cache=False)
        rates.append(args.n / (time.perf_counter() - start))
    start = time.perf_counter()
    SyntheticScenes(n=args.n, size=args.size, seed=0, cache=False).tensors()
    decode = args.n / (time.perf_counter() - start)
    print(f"SyntheticScenes {args.size}x{args.size}, {torch.get_num_threads()} threads, n={args.n}")
    print(f"  generate: median {statistics.median(rates):,.0f} scenes/s  (min {min(rates):,.0f}, "
          f"max {max(rates):,.0f}; target >= 1,000)")
    print(f"  generate + tensors(): {decode:,.0f} scenes/s")


if __name__ == "__main__":
    main()

"""The edge F-score under the two protocols: what lesson 01's edge model scores, and what each costs.

    python benchmarks/bench_edges.py [--seed 0]

Trains lesson 01's single-task edge network (LESSON_SETUP, ~30 s on 2 CPU cores), then evaluates it on the
validation split with the BSDS protocol (the course's metric: thinning, one-to-one matching; max_dist 0.0075
of the diagonal, and a 1.5-pixel variant) and with the tolerance metric the lessons used before (1 pixel,
chessboard, no thinning), and times each evaluation (forward passes included).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import torch

from mtl_course.lessons import LESSON_SETUP, train_single_task
from mtl_course.tasks import get_task
from mtl_course.train import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup = replace(LESSON_SETUP, seed=args.seed)
    train, val = setup.data()
    model, _ = train_single_task("edges", setup, progress=False, data=(train, val))
    one_pixel = 1.5 / math.hypot(setup.size, setup.size)
    variants = {"BSDS, max_dist 0.0075 (0.51 px here)": get_task("edges"),
                f"BSDS, max_dist {one_pixel:.4f} (1.5 px here)": get_task("edges", max_dist=one_pixel),
                "tolerance 1 px (the lessons' metric before)": get_task("edges", protocol="tolerance")}
    print(f"lesson 01's edge model, seed {args.seed}, {len(val)} validation scenes of {setup.size}x{setup.size}")
    print(f"{'metric':42s}{'ODS F':>8s}{'P':>7s}{'R':>7s}{'OIS F':>8s}{'seconds':>9s}")
    for name, task in variants.items():
        torch.manual_seed(0)
        start = time.perf_counter()
        scores = evaluate(model, [task], val, device="cpu")["edges"]
        seconds = time.perf_counter() - start
        print(f"{name:42s}{scores['f_score']:8.3f}{scores['precision']:7.3f}{scores['recall']:7.3f}"
              f"{scores.get('ois', float('nan')):8.3f}{seconds:9.2f}")


if __name__ == "__main__":
    main()

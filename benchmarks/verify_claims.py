"""Teaching truth: re-run each lesson's comparisons over several seeds and check what the prose claims.

    python benchmarks/verify_claims.py [--seeds 0 1 2] [--lessons 01]

Prints mean +- standard deviation for every number a claim rests on, and exits non-zero if a claim fails
for the mean or for any seed. Later lessons add their claims here. Lesson 01 takes ~4 min on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace

import torch

from mtl_course.baselines import LESSON_SETUP, lesson_task, train_single_task
from mtl_course.train import evaluate


def no_learning_scores(train: dict, val: dict, size: int) -> dict[str, float]:
    """The floors of lesson 01: all background; the per-row mean training depth; a constant edge map."""
    n = len(val["image"])
    background = torch.zeros(n, 6, size, size)
    background[:, 0] = 1
    row_depth = train["depth"].mean(dim=(0, 3), keepdim=True).expand(n, 1, size, size)
    return {
        "semseg": lesson_task("semseg").metrics(background, val["semseg"])["miou"],
        "depth": lesson_task("depth").metrics(row_depth, val["depth"])["abs_err"],
        "edges": lesson_task("edges").metrics(torch.zeros(n, 1, size, size), val["edges"])["f_score"],
    }


def lesson_01(seeds: list[int]) -> bool:
    """Claim: each single-task model is well above its no-learning floor (semseg mIoU >= 2x the floor,
    depth error <= half the floor, edge F-score >= floor + 0.3)."""
    rows: dict[str, list[tuple[float, float]]] = {"semseg": [], "depth": [], "edges": []}
    for seed in seeds:
        setup = replace(LESSON_SETUP, seed=seed)
        train, val = setup.data()
        floors = no_learning_scores(train.tensors(), val.tensors(), setup.size)
        for name in rows:
            model, _ = train_single_task(name, setup, progress=False, data=(train, val))
            task = lesson_task(name)
            rows[name].append((floors[name], evaluate(model, [task], val)[name][task.primary_metric]))
            print(f"  seed {seed} {name:7s} floor {floors[name]:.3f} trained {rows[name][-1][1]:.3f}", flush=True)
    checks = {"semseg": lambda floor, s: s >= 2 * floor, "depth": lambda floor, s: s <= 0.5 * floor,
              "edges": lambda floor, s: s >= floor + 0.3}
    ok = True
    print(f"\nLesson 01 — single-task baselines vs no learning, {len(seeds)} seeds")
    print(f"{'task':8s}{'metric':9s}{'no learning':>18s}{'trained':>18s}  claim")
    for name, values in rows.items():
        floors, trained = [v[0] for v in values], [v[1] for v in values]
        holds = all(checks[name](f, s) for f, s in values)
        ok &= holds
        spread = lambda xs: f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:.3f}"
        print(f"{name:8s}{lesson_task(name).primary_metric:9s}{spread(floors):>18s}{spread(trained):>18s}  "
              f"{'holds' if holds else 'FAILS'}")
    return ok


LESSONS = {"01": lesson_01}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lessons", nargs="+", default=sorted(LESSONS), choices=sorted(LESSONS))
    args = parser.parse_args()
    if len(args.seeds) < 3:
        print("note: claims are meant to be checked over at least 3 seeds")
    results = {lesson: LESSONS[lesson](args.seeds) for lesson in args.lessons}
    failed = [lesson for lesson, ok in results.items() if not ok]
    print("\nall claims hold" if not failed else f"\nclaims FAIL for lesson(s) {failed}: change the lesson")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

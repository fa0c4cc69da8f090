"""Teaching truth: re-run each lesson's comparisons over several seeds and check what the prose claims.

    python benchmarks/verify_claims.py [--seeds 0 1 2 3 4] [--lessons 01] [--scale laptop|gpu]

--scale picks each lesson's preset (mtl_course.lessons.scale): "laptop" (the default; what CI can run) or "gpu"
(larger images, more scenes and steps: run it on a GPU). The same claims are checked at both sizes; a lesson joins
GPU_VERIFIED, and picks its gpu preset on a CUDA GPU, once its text says what holds at each size.

Prints mean +- standard deviation for every number a claim rests on, and exits non-zero if a claim fails
for any seed. Five seeds by default: a claim chosen because it held on the seeds one looked at often fails
on the next ones. Later lessons add their claims here. Lesson 01 takes ~6 min on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
from pathlib import Path
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from mtl_course.lessons import (SCALES, SHARING_VARIANTS, LessonSetup, lesson_setup, lesson_task,
                                save_stl_scores, stl_scores, train_model, train_single_task)
from mtl_course.lessons.deploy import deploy_tasks, latency_ms, median_ms, train_student, train_teacher
from mtl_course.lessons.instances import INSTANCE_VARIANTS, evaluate_panoptic, train_variant
from mtl_course.lessons.transfer_study import RECIPES, run

SCALE = "laptop"          # set by --scale


def preset(lesson: str):
    """The lesson's settings at SCALE (mtl_course.lessons.scale.PRESETS)."""
    return lesson_setup(lesson, SCALE, verbose=False)
from mtl_course.compress import prune_model, quantize_onnx
from mtl_course.export import evaluate_onnx, onnx_session, run_onnx, to_onnx
from mtl_course.metrics import delta_m
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.tasks import Depth
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
    """Claim: each single-task model is well above its no-learning floor (semseg mIoU >= 1.5x the floor,
    depth error <= half the floor, edge F-score (BSDS protocol) >= floor + 0.5). Semseg was first stated as
    2x; seed 3 gave 0.259 against a floor of 0.133 (1.95x), so the lesson now says 1.5x and names the spread.
    Edges: floor + 0.3 under the old 1-pixel tolerance metric (F ~0.98); under BSDS the floor is ~0.002 and
    the trained F 0.67-0.74 on seeds 0-4."""
    rows: dict[str, list[tuple[float, float]]] = {"semseg": [], "depth": [], "edges": []}
    for seed in seeds:
        setup = replace(preset("01"), seed=seed)
        train, val = setup.data()
        floors = no_learning_scores(train.tensors(), val.tensors(), setup.size)
        for name in rows:
            model, _ = train_single_task(name, setup, progress=False, data=(train, val))
            task = lesson_task(name)
            scores = evaluate(model, [task], val)
            save_stl_scores(scores, setup)             # the baselines lesson 02 compares against, as lesson 01 does
            rows[name].append((floors[name], scores[name][task.primary_metric]))
            print(f"  seed {seed} {name:7s} floor {floors[name]:.3f} trained {rows[name][-1][1]:.3f}", flush=True)
    checks = {"semseg": lambda floor, s: s >= 1.5 * floor, "depth": lambda floor, s: s <= 0.5 * floor,
              "edges": lambda floor, s: s >= floor + 0.5}
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


def with_unrelated_task(data, seed: int) -> dict:
    """The split's tensors plus "unrelated": one random distance in 2..12 m per scene (as in lesson 02)."""
    tensors = data.tensors()
    values = 2 + 10 * torch.rand(len(tensors["image"]), 1, 1, 1, generator=torch.Generator().manual_seed(seed))
    return {**tensors, "unrelated": values.expand_as(tensors["depth"]).clone()}


def mean_std(values: list[float], digits: int = 1, signed: bool = True) -> str:
    sign = "+" if signed else ""
    spread = statistics.stdev(values) if len(values) > 1 else 0
    return f"{statistics.mean(values):{sign}.{digits}f} ± {spread:.{digits}f}"


def lesson_02(seeds: list[int]) -> bool:
    """Claims of lesson 02, at the lessons' budget:
    1. hard sharing (shared encoder + decoder, three heads) trails three single-task networks: delta_m < 0 on
       every seed;
    2. negative transfer: adding an unrelated task (one random distance per scene, squared-error loss) lowers
       delta_m on every seed, by more than the seed-to-seed range of plain hard sharing's delta_m, and makes each
       of the three tasks worse on every seed."""
    names = ["semseg", "depth", "edges"]
    tasks = [lesson_task(n) for n in names]
    hps, unrelated, worse = [], [], {n: [] for n in names}
    for seed in seeds:
        setup = replace(preset("02"), seed=seed)
        train, val = setup.data()
        stl = stl_scores(names, setup, progress=False)
        model, _ = train_model(tasks, setup, progress=False, data=(train, val))
        shared = evaluate(model, tasks, val)
        hps.append(delta_m(shared, stl, tasks))
        extra = get_task("depth", key="unrelated", loss="l2")
        noisy = (with_unrelated_task(train, 2 * seed), with_unrelated_task(val, 2 * seed + 1))
        model, _ = train_model([*tasks, extra], setup, progress=False, data=noisy)
        scores = evaluate(model, tasks, val)
        unrelated.append(delta_m(scores, stl, tasks))
        for task in tasks:       # relative change of each task, signed so that < 0 means worse
            worse[task.name].append(delta_m({task.name: scores[task.name]}, {task.name: shared[task.name]}, [task]))
        print(f"  seed {seed}: delta_m hard sharing {hps[-1]:+.1f} %, with an unrelated task {unrelated[-1]:+.1f} % "
              f"(" + ", ".join(f"{n} {worse[n][-1]:+.1f} %" for n in names) + ")", flush=True)
    holds_hps = all(h < 0 for h in hps)
    changes = [u - h for u, h in zip(unrelated, hps)]
    spread = max(hps) - min(hps)
    holds_drop = all(c < 0 for c in changes) and -statistics.mean(changes) > spread
    holds_each = all(c < 0 for values in worse.values() for c in values)
    print(f"\nLesson 02 — delta_m against single-task baselines (%), {len(seeds)} seeds")
    print(f"  hard sharing                 {mean_std(hps):>14s}  claim < 0 on every seed: "
          f"{'holds' if holds_hps else 'FAILS'}")
    print(f"  hard sharing + unrelated     {mean_std(unrelated):>14s}")
    print(f"  change (unrelated - hard sharing) {mean_std(changes):>9s}  claim < 0 on every seed and |mean| > "
          f"range of hard sharing ({spread:.1f}): {'holds' if holds_drop else 'FAILS'}")
    for name in names:
        print(f"    {name:7s} change with the unrelated task {mean_std(worse[name]):>14s} %")
    print(f"  claim: each task is worse with the unrelated task on every seed: {'holds' if holds_each else 'FAILS'}")
    return holds_hps and holds_drop and holds_each


# ---- lessons 03 and 04: a smaller setting, so that a lesson's ten trainings fit in two minutes --------------

# lesson 03: preset("03") (laptop: 32x32, 256 scenes, 5 epochs); lesson 04: preset("04") (192 scenes: eleven trainings)


class DepthInCentimetres(Depth):
    """Lesson 03's depth task: the same predictions (metres), its L1 loss reported in centimetres."""

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 100 * super().loss(output, target)


def train_small(tasks: list, weighting, seed: int, data, setup: LessonSetup | None = None, **fit_options) -> dict:
    """Train with `setup` (seed `seed`) on `data` = (train, val); return the validation scores. Like lessons
    03 and 04, no validation after every epoch: one evaluation at the end. setup: lesson 03's by default."""
    setup = setup or preset("03")
    model, _ = train_model(tasks, replace(setup, seed=seed), progress=False, data=(data[0], None),
                           weighting=weighting, fit_options=fit_options)
    return evaluate(model, tasks, data[1])


LESSON_03_GRID = [1.0, 1e-2, 1e-3, 1e-4]
LESSON_03_ADAPTIVE = ["uncertainty", "dwa", "gradnorm", "rlw", "gls"]


def lesson_03(seeds: list[int]) -> bool:
    """Claims of lesson 03 (edges + depth whose loss is in centimetres, 100x its size in metres), edge F-score
    by the BSDS protocol:
    1. equal weighting starves edges: its edge F-score is below that of w_depth = 0.01 (the weights that undo
       the units) and more than 0.2 below that of w_depth = 0.001, on every seed;
    2. the fixed-weight grid is a trade-off: from w_depth = 1e-2 to 1e-4, edges improve and depth gets worse,
       on every seed;
    3. GLS recovers edges (F-score > 0.2 above equal's) on every seed, and keeps the depth error within 10 % of
       equal's on all seeds but at most one;
    4. uncertainty, DWA, GradNorm and RLW do not fix the imbalance within this budget: their edge F-score stays
       > 0.2 below GLS's, on every seed.
    Under the old 1-pixel tolerance edge metric, claim 1 said "> 0.05 below w_depth = 0.01" and claim 3 "depth
    within 10 % on every seed"; with the BSDS metric and the current code, seed 2 had equal 0.210 vs 0.221 at
    w_depth = 0.01, and seed 4 GLS's depth error was 0.757 m against equal's 0.551 m."""
    tasks = [lesson_task("edges"), DepthInCentimetres()]
    rows: dict[str, list[tuple[float, float]]] = {}
    for seed in seeds:
        data = replace(preset("03"), seed=seed).data()
        runs = {f"w_depth={w:g}": {"edges": 1.0, "depth": w} for w in LESSON_03_GRID}
        runs.update({name: name for name in LESSON_03_ADAPTIVE})
        for label, weighting in runs.items():
            scores = train_small(tasks, weighting, seed, data)
            rows.setdefault(label, []).append((scores["edges"]["f_score"], scores["depth"]["abs_err"]))
            print(f"  seed {seed} {label:14s} edges F {rows[label][-1][0]:.3f}  depth {rows[label][-1][1]:.3f} m",
                  flush=True)
    n = len(seeds)
    f = {label: [v[0] for v in values] for label, values in rows.items()}
    d = {label: [v[1] for v in values] for label, values in rows.items()}
    claims = {
        "equal weighting starves edges": all(f["w_depth=1"][i] < f["w_depth=0.01"][i]
                                              and f["w_depth=1"][i] < f["w_depth=0.001"][i] - 0.2 for i in range(n)),
        "the grid is a trade-off (1e-2 -> 1e-4)": all(
            f["w_depth=0.0001"][i] > f["w_depth=0.01"][i] and d["w_depth=0.0001"][i] > d["w_depth=0.01"][i]
            for i in range(n)),
        "GLS recovers edges (> 0.2 above equal)": all(f["gls"][i] > f["w_depth=1"][i] + 0.2 for i in range(n)),
        "GLS keeps depth within 10 % of equal's on all seeds but at most one": sum(
            d["gls"][i] <= 1.1 * d["w_depth=1"][i] for i in range(n)) >= n - 1,
        **{f"{name} stays > 0.2 below GLS on edges": all(f[name][i] < f["gls"][i] - 0.2 for i in range(n))
           for name in ("uncertainty", "dwa", "gradnorm", "rlw")},
    }
    print(f"\nLesson 03 — edges + depth (loss in cm), {n} seeds")
    print(f"{'weighting':16s}{'edges F-score':>18s}{'depth abs err (m)':>20s}")
    for label in rows:
        print(f"{label:16s}{mean_std(f[label], 3, False):>18s}{mean_std(d[label], 3, False):>20s}")
    for claim, holds in claims.items():
        print(f"  claim: {claim}: {'holds' if holds else 'FAILS'}")
    return all(claims.values())


LESSON_04_TASKS = ["depth", "edges", "normals"]
LESSON_04_METHODS = ["pcgrad", "mgda", "cagrad", "imtl", "nash", "upgrad", "aligned"]
LESSON_04_WINNERS = ["mgda", "cagrad", "imtl", "nash", "aligned"]   # lesson 04: beat equal on every seed
LESSON_04_LEAST = {"pcgrad", "upgrad"}             # lesson 04: the two smallest mean gains (they only project)


def lesson_04(seeds: list[int]) -> bool:
    """Claims of lesson 04 (depth, edges, normals; gradients of the shared features; edges by the BSDS
    protocol): the methods in LESSON_04_WINNERS reach delta_m > 0 against equal weighting on every seed, and
    LESSON_04_LEAST have the two smallest mean gains. Under the old 1-pixel tolerance edge metric the lesson
    said IMTL, Nash and Aligned win on every seed, MGDA and CAGrad go both ways; with BSDS (seeds 0-4) MGDA
    and CAGrad gained on every seed too, and MGDA's mean (+36.6) passed IMTL's (+36.2)."""
    tasks = [lesson_task(name) for name in LESSON_04_TASKS]
    gains: dict[str, list[float]] = {name: [] for name in LESSON_04_METHODS}
    for seed in seeds:
        data = replace(preset("04"), seed=seed).data()
        equal = train_small(tasks, "equal", seed, data, preset("04"))
        for name in LESSON_04_METHODS:
            scores = train_small(tasks, name, seed, data, preset("04"), grad_level="features")
            gains[name].append(delta_m(scores, equal, tasks))
        print(f"  seed {seed}: " + ", ".join(f"{k} {v[-1]:+.1f}" for k, v in gains.items()), flush=True)
    print(f"\nLesson 04 — delta_m against equal weighting (%), {len(seeds)} seeds")
    ok = True
    for name, values in gains.items():
        every = all(v > 0 for v in values)
        holds = every if name in LESSON_04_WINNERS else True
        ok &= holds
        claim = "> 0 on every seed" if name in LESSON_04_WINNERS else ""
        print(f"  {name:8s}{mean_std(values):>14s}  claim {claim}: {'holds' if holds else 'FAILS'}")
    least = set(sorted(gains, key=lambda name: statistics.mean(gains[name]))[:2])
    print(f"  claim: the two smallest mean gains are {sorted(LESSON_04_LEAST)}: "
          f"{'holds' if least == LESSON_04_LEAST else 'FAILS (they are ' + str(sorted(least)) + ')'}")
    return ok and least == LESSON_04_LEAST


# ---- lesson 05: transfer, with the lesson's own runs (mtl_course.lessons.transfer_study) ---------------------
def lesson_05_runs(seed: int) -> dict[str, float]:
    """Every run of lesson 05 for one seed: {"recipe@budget" or "recipe+aux@budget": semseg mIoU}."""
    setup = preset("05").replace(seed=seed)
    data = setup.data()
    compare, smallest = setup.budgets[1], setup.budgets[0]
    scores = {f"{name}@{compare}": run(recipe, compare, setup, data) for name, recipe in RECIPES.items()}
    for budget in setup.budgets:
        for name in ("from scratch", "feature extraction", "fine-tuning"):
            if f"{name}@{budget}" not in scores:
                scores[f"{name}@{budget}"] = run(RECIPES[name], budget, setup, data)
    for budget in (smallest, compare):
        scores[f"feature extraction+aux@{budget}"] = run(RECIPES["feature extraction"], budget, setup, data, aux=True)
    return scores


# claims about lesson 05's runs: (text, test on one seed's scores, stated). stated=True: the lesson says it holds
# on every seed; False: the lesson gives how often it held (its counts are over seeds 0-7:
# `python benchmarks/verify_claims.py --lessons 05 --seeds 0 1 2 3 4 5 6 7`) or calls it noise
PRETRAINED_05 = ("feature extraction", "fine-tuning", "partial freezing", "LP-FT", "L2-SP")
LESSON_05_CLAIMS = [
    ("fine-tuning beats from scratch at 40, 120 and 480 labels",
     lambda s: all(s[f"fine-tuning@{b}"] > s[f"from scratch@{b}"] for b in (40, 120, 480)), True),
    ("feature extraction and fine-tuning both beat from scratch at 480 labels",
     lambda s: all(s[f"{m}@480"] > s["from scratch@480"] for m in ("feature extraction", "fine-tuning")), True),
    # stated as counts; over seeds 0-7 they held on 7, 7, 7, 7, 7, 7, 5, 3, 5, 3 and 3 of 8 seeds, in this order
    ("the five pretrained methods, on average, beat from scratch at 40 labels",
     lambda s: statistics.mean(s[f"{m}@40"] for m in PRETRAINED_05) > s["from scratch@40"], False),
    ("every pretrained method beats from scratch at 40 labels",
     lambda s: all(s[f"{m}@40"] > s["from scratch@40"] for m in PRETRAINED_05), False),
    ("feature extraction and fine-tuning beat from scratch at 40, 120 and 480 labels",
     lambda s: all(s[f"{m}@{b}"] > s[f"from scratch@{b}"] for m in ("feature extraction", "fine-tuning")
                   for b in (40, 120, 480)), False),
    ("feature extraction beats fine-tuning at 480 labels",
     lambda s: s["feature extraction@480"] > s["fine-tuning@480"], False),
    ("feature extraction beats from scratch at 40, 120 and 480 labels",
     lambda s: all(s[f"feature extraction@{b}"] > s[f"from scratch@{b}"] for b in (40, 120, 480)), False),
    ("feature extraction beats from scratch at 16 labels",
     lambda s: s["feature extraction@16"] > s["from scratch@16"], False),
    ("feature extraction beats fine-tuning at 16 labels",
     lambda s: s["feature extraction@16"] > s["fine-tuning@16"], False),
    ("fine-tuning beats feature extraction at 120 labels",
     lambda s: s["fine-tuning@120"] > s["feature extraction@120"], False),
    ("LP-FT beats fine-tuning at 40 labels", lambda s: s["LP-FT@40"] > s["fine-tuning@40"], False),
    ("the depth auxiliary task helps feature extraction at 16 labels",
     lambda s: s["feature extraction+aux@16"] > s["feature extraction@16"], False),
    ("the depth auxiliary task helps feature extraction at 40 labels",
     lambda s: s["feature extraction+aux@40"] > s["feature extraction@40"], False),
]


def check_claims(title: str, runs, claims: list, seeds: list[int]) -> tuple[bool, list[dict[str, float]]]:
    """Run `runs(seed)` for every seed, print each number's mean, spread and per-seed values under `title`, then
    each claim (text, test on one seed's runs, stated): "holds" on every seed, "never", or on how many. Returns
    (every stated claim held on every seed, the per-seed runs)."""
    per_seed = []
    for seed in seeds:
        per_seed.append(runs(seed))
        print(f"  seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in per_seed[-1].items()), flush=True)
    print(f"\n{title}, {len(seeds)} seeds")
    width = max(len(key) for key in per_seed[0]) + 2
    for key in per_seed[0]:
        values = [scores[key] for scores in per_seed]
        print(f"  {key:{width}s} {mean_std(values, digits=3, signed=False):>18s}   "
              + " ".join(f"{v:.3f}" for v in values))
    ok = True
    for text, test, stated in claims:
        holds = [bool(test(scores)) for scores in per_seed]
        verdict = "holds" if all(holds) else "never" if not any(holds) else f"{sum(holds)}/{len(holds)} seeds"
        print(f"  {'[lesson] ' if stated else '         '}{text}: {verdict}")
        ok &= all(holds) or not stated
    return ok, per_seed


def lesson_05(seeds: list[int]) -> bool:
    """Lesson 05: each run's mIoU over seeds, and which claims hold on every seed (the lesson states only those)."""
    return check_claims("Lesson 05 — semseg mIoU on the target domain", lesson_05_runs, LESSON_05_CLAIMS, seeds)[0]


# ---- lesson 06: five ways to share, and the consistency loss (SHARING_SETUP, SHARING_VARIANTS) ------------------
LESSON_06_TASKS = ["semseg", "edges"]
MULTI_TASK_06 = ["hard", "hard, own decoders", "attention", "cross-stitch"]


def lesson_06_runs(seed: int) -> dict[str, float]:
    """Every run of lesson 06 for one seed: each variant's metrics, Δm against single-task and ms per step; hard
    sharing with the consistency loss (weight 1); the cross-stitch units' mean off-diagonal weight by stage."""
    setup = preset("06").replace(seed=seed)
    train, val = setup.data()
    tasks = [lesson_task(name) for name in LESSON_06_TASKS]
    consistency = get_task("consistency", between=("edges", "semseg"), weight=1.0)
    row: dict[str, float] = {}
    scores = {}
    for name, options in SHARING_VARIANTS.items():
        model, history = train_model(tasks, setup, progress=False, data=(train, None), **options)
        scores[name] = evaluate(model, [*tasks, consistency], val)
        row[f"{name} ms/step"] = 1000 * history.seconds_per_step
        if name == "cross-stitch":
            for stage, alpha in enumerate(model.trunk.mixing_weights()):
                row[f"alpha off-diagonal, stage {stage}"] = float((alpha.sum() - alpha.trace()) / 2)
        if name == "attention":                          # how selective the masks are, on 64 validation scenes
            with torch.no_grad():
                shared = model.cpu().eval().trunk(val.tensors()["image"][:64])   # on the CPU, as lesson 06
                values = torch.cat([m.flatten() for t in LESSON_06_TASKS for m in model.heads[t].masks(shared)])
            row["attention masks outside [0.1, 0.9]"] = float(((values < 0.1) | (values > 0.9)).float().mean())
    model, _ = train_model([*tasks, consistency], setup, progress=False, data=(train, None),
                           **SHARING_VARIANTS["hard"])
    scores["hard + consistency"] = evaluate(model, [*tasks, consistency], val)
    for name, result in scores.items():
        row[f"{name} semseg"] = result["semseg"]["miou"]
        row[f"{name} edges"] = result["edges"]["f_score"]
        row[f"{name} disagreement"] = result["consistency"]["disagreement"]
        row[f"{name} delta_m"] = delta_m(result, scores["single-task"], tasks)
    row["consistency vs hard delta_m"] = delta_m(scores["hard + consistency"], scores["hard"], tasks)
    return row


def _early_late(s: dict[str, float]) -> tuple[float, float]:
    early = statistics.mean(s[f"alpha off-diagonal, stage {i}"] for i in range(3))
    late = statistics.mean(s[f"alpha off-diagonal, stage {i}"] for i in range(3, 5))
    return early, late


# (text, test on one seed's runs, stated): stated=True, the lesson says it holds on every seed; False, the lesson
# gives how often it held over these seeds, or calls the difference noise
LESSON_06_CLAIMS = [
    ("hard sharing: delta_m < 0 against the single-task networks", lambda s: s["hard delta_m"] < 0, True),
    ("hard sharing has the lowest edge F-score of the five",
     lambda s: all(s["hard edges"] < s[f"{n} edges"] for n in SHARING_VARIANTS if n != "hard"), True),
    ("every model with a decoder per task beats hard sharing's edge F-score by 0.05 or more",
     lambda s: all(s[f"{n} edges"] > s["hard edges"] + 0.05 for n in MULTI_TASK_06[1:]), True),
    ("cross-stitch and attention take at least 1.5x hard sharing's time per step",   # timing: one busy moment
     lambda s: min(s["cross-stitch ms/step"], s["attention ms/step"]) >= 1.5 * s["hard ms/step"], False),  # flips it
    ("cross-stitch: the mean off-diagonal alpha of stages 0-2 exceeds that of stages 3-4",
     lambda s: _early_late(s)[0] > _early_late(s)[1], True),
    ("cross-stitch: the mean off-diagonal alpha of each of stages 0-2 is above its starting 0.1",
     lambda s: all(s[f"alpha off-diagonal, stage {i}"] > 0.1 for i in range(3)), False),
    ("the consistency loss lowers the disagreement to under 0.6 of hard sharing's",
     lambda s: s["hard + consistency disagreement"] < 0.6 * s["hard disagreement"], True),
    ("attention: under 10 % of the mask values are below 0.1 or above 0.9",
     lambda s: s["attention masks outside [0.1, 0.9]"] < 0.1, True),
    ("the consistency loss raises hard sharing's delta_m", lambda s: s["consistency vs hard delta_m"] > 0, False),
    ("the consistency loss raises hard sharing's edge F-score",
     lambda s: s["hard + consistency edges"] > s["hard edges"], False),
    ("the consistency loss raises hard sharing's semseg mIoU",
     lambda s: s["hard + consistency semseg"] > s["hard semseg"], False),
    *[(f"{n}: delta_m above hard sharing's", lambda s, n=n: s[f"{n} delta_m"] > s["hard delta_m"], False)
      for n in MULTI_TASK_06[1:]],
    *[(f"{n}: delta_m > 0 (beats the single-task networks)", lambda s, n=n: s[f"{n} delta_m"] > 0, False)
      for n in MULTI_TASK_06[1:]],
    ("attention: delta_m above hard sharing with own decoders",
     lambda s: s["attention delta_m"] > s["hard, own decoders delta_m"], False),
    ("cross-stitch has the highest delta_m of the four multi-task models",
     lambda s: max(MULTI_TASK_06, key=lambda n: s[f"{n} delta_m"]) == "cross-stitch", False),
]


def _time_ratio(s: dict[str, float]) -> float:
    return min(s["cross-stitch ms/step"], s["attention ms/step"]) / s["hard ms/step"]


# claims over all seeds at once (text, test on the list of per-seed runs): times per step are noisy, so the lesson
# states their median ratio
LESSON_06_OVER_SEEDS = [
    ("cross-stitch and attention take about twice hard sharing's time per step (median ratio over seeds 1.5-2.5)",
     lambda runs: 1.5 <= statistics.median(_time_ratio(s) for s in runs) <= 2.5),
]


def lesson_06(seeds: list[int]) -> bool:
    """Lesson 06: each number over seeds, and which claims hold on every seed (the lesson states only those)."""
    ok, per_seed = check_claims("Lesson 06 — five ways to share semseg and edges", lesson_06_runs, LESSON_06_CLAIMS,
                                seeds)
    print("  time ratio per seed (the cheaper of cross-stitch and attention / hard): "
          + " ".join(f"{_time_ratio(s):.2f}" for s in per_seed))
    for text, test in LESSON_06_OVER_SEEDS:
        holds = bool(test(per_seed))
        print(f"  [lesson] {text}: {'holds' if holds else 'FAILS'}")
        ok &= holds
    return ok


# ---- lesson 07: instances from semseg + centres + offsets (INSTANCE_SETUP, INSTANCE_VARIANTS) --------------------
THINGS = range(1, 6)


def lesson_07_runs(seed: int) -> dict[str, float]:
    """Every run of lesson 07 for one seed: each variant's semseg mIoU, centre F-score, offset error, PQ / SQ / RQ
    (all classes and things only); PQ of the weighted model grouped on the true segmentation."""
    setup = preset("07").replace(seed=seed)
    train, val = setup.data()
    tasks = [lesson_task("semseg"), get_task("centers"), get_task("offsets")]
    row: dict[str, float] = {}
    results = {}
    for name in INSTANCE_VARIANTS:
        models, histories = train_variant(name, setup, data=(train, None), progress=False)
        scores: dict = {}
        for model in models:
            scores.update(evaluate(model, [t for t in tasks if t.name in model.heads], val))
        results[name] = scores
        row[f"{name} ms/step"] = 1000 * sum(h.seconds_per_step for h in histories)
        row[f"{name} delta_m"] = delta_m(scores, results["separate"], tasks)
        row[f"{name} delta_m semseg"] = delta_m(scores, results["separate"], tasks[:1])
        row[f"{name} semseg"] = scores["semseg"]["miou"]
        row[f"{name} centers"] = scores["centers"]["f_score"]
        row[f"{name} offsets"] = scores["offsets"]["epe"]
        pq = evaluate_panoptic(models, val)
        for key in ("pq", "sq", "rq"):
            row[f"{name} {key}"] = pq[key]
        row[f"{name} pq things"] = statistics.mean(pq["per_class"].get(c, {"pq": 0.0})["pq"] for c in THINGS)
        if name in ("separate", "hard, weighted"):
            row[f"{name} pq, true semseg"] = evaluate_panoptic(models, val, true_semseg=True)["pq"]
    return row


# (text, test on one seed's runs, stated): as LESSON_06_CLAIMS
LESSON_07_CLAIMS = [
    ("hard (equal weights): semseg mIoU below the semseg network's by 0.1 or more",
     lambda s: s["hard semseg"] < s["separate semseg"] - 0.1, True),
    ("hard (equal weights): PQ below the separate networks'", lambda s: s["hard pq"] < s["separate pq"], True),
    ("weighting the instance losses down raises hard sharing's semseg mIoU by 0.1 or more",
     lambda s: s["hard, weighted semseg"] > s["hard semseg"] + 0.1, True),
    ("hard, weighted has a higher PQ than hard with equal weights", lambda s: s["hard, weighted pq"] > s["hard pq"],
     True),
    ("hard, weighted: a higher offset error than the instance network's (its offsets weigh 0.05)",
     lambda s: s["hard, weighted offsets"] > s["separate offsets"], True),
    ("grouping the true segmentation adds 0.3 or more to the weighted model's PQ",
     lambda s: s["hard, weighted pq, true semseg"] > s["hard, weighted pq"] + 0.3, True),
    ("on the true segmentation, hard, weighted's centres and offsets: PQ within 0.05 of the instance network's",
     lambda s: abs(s["hard, weighted pq, true semseg"] - s["separate pq, true semseg"]) < 0.05, False),
    ("hard, weighted takes less time per step than the two separate networks",
     lambda s: s["hard, weighted ms/step"] < s["separate ms/step"], True),
    ("hard, weighted: semseg mIoU above the semseg network's (delta_m semseg > 0)",
     lambda s: s["hard, weighted delta_m semseg"] > 0, False),
    ("separate networks have a higher PQ than hard, weighted", lambda s: s["separate pq"] > s["hard, weighted pq"],
     False),
    ("hard, weighted: delta_m over the three tasks > 0", lambda s: s["hard, weighted delta_m"] > 0, False),
    ("hard sharing's centre F-score is higher than the instance network's",
     lambda s: s["hard centers"] > s["separate centers"], False),
]


def lesson_07(seeds: list[int]) -> bool:
    """Lesson 07: each number over seeds, and which claims hold on every seed (the lesson states only those)."""
    return check_claims("Lesson 07 — instances from semseg, centres and offsets", lesson_07_runs, LESSON_07_CLAIMS,
                        seeds)[0]


# ---- lesson 09: sharing at inference, distillation, pruning, export and int8 (DEPLOY_SETUP) ----------------------
PRUNE_AMOUNTS = {"layer": (0.3, 0.5), "global": (0.3, 0.5, 0.7), "structured": (0.1, 0.2)}


def lesson_09_runs(seed: int) -> dict[str, float]:
    """Every number lesson 09's prose rests on, for one seed: latency ratios, the students' and the pruned and
    quantised teachers' delta_m against the teacher, ONNX Runtime's largest difference from PyTorch."""
    setup = preset("09").replace(seed=seed)
    train, val = setup.data()
    tasks = deploy_tasks()
    row: dict[str, float] = {}
    shared, separate = build_model(tasks, seed=seed), [build_model([t], seed=seed) for t in tasks]
    for batch in (1, 16):
        row[f"separate / shared ms, batch {batch}"] = latency_ms(separate, batch, setup.size) / latency_ms(
            [shared], batch, setup.size)
    teacher, _ = train_teacher(setup, progress=False, data=(train, val))
    base = evaluate(teacher, tasks, val)
    row.update({"teacher miou": base["semseg"]["miou"], "teacher depth": base["depth"]["abs_err"],
                "teacher edges": base["edges"]["f_score"]})
    for name, with_teacher in (("labels", None), ("distilled", teacher)):
        student, _ = train_student(setup, teacher=with_teacher, progress=False, data=(train, val))
        scores = evaluate(student, tasks, val)
        row[f"student {name} delta_m"] = delta_m(scores, base, tasks)
        row[f"student {name} miou"] = scores["semseg"]["miou"]
        row[f"student {name} depth"] = scores["depth"]["abs_err"]
        row[f"student {name} edges"] = scores["edges"]["f_score"]
        row[f"teacher / student {name} ms"] = latency_ms([teacher], 16, setup.size) / latency_ms([student], 16,
                                                                                                 setup.size)
    for kind, amounts in PRUNE_AMOUNTS.items():
        for amount in amounts:
            pruned = copy.deepcopy(teacher)
            if kind == "structured":
                prune_model(pruned.trunk, amount, structured=True)
            else:
                prune_model(pruned, amount, scope=kind)
            row[f"prune {kind} {amount} delta_m"] = delta_m(evaluate(pruned, tasks, val), base, tasks)
    half_zero = prune_model(copy.deepcopy(teacher), 0.5, scope="global")
    row["pruned / dense ms"] = latency_ms([half_zero], 16, setup.size) / latency_ms([teacher], 16, setup.size)
    images = val.tensors()["image"][:16]
    with tempfile.TemporaryDirectory() as folder:
        path = to_onnx(teacher, Path(folder) / "teacher.onnx", size=setup.size)
        session = onnx_session(path)
        with torch.no_grad():
            expected = teacher.cpu().eval()(images)                          # on the CPU, as lesson 09
        row["onnx max diff"] = max(float((run_onnx(session, images)[k] - v).abs().max()) for k, v in expected.items())
        calibration = train.tensors()["image"][:64]
        for name, float_outputs in (("int8", True), ("int8 heads too", False)):
            int8_path = quantize_onnx(path, Path(folder) / f"{name}.onnx", calibration, float_outputs=float_outputs)
            int8 = onnx_session(int8_path)
            row[f"{name} delta_m"] = delta_m(evaluate_onnx(int8, tasks, val), base, tasks)
            row[f"{name} size ratio"] = path.stat().st_size / int8_path.stat().st_size
            row[f"{name} / fp32 onnx ms"] = (median_ms(lambda: run_onnx(int8, images))
                                             / median_ms(lambda: run_onnx(session, images)))
    return row


LESSON_09_CLAIMS = [
    ("one network per task takes over 1.5x as long as the multi-task network, at batch 1 and 16",
     lambda s: min(s["separate / shared ms, batch 1"], s["separate / shared ms, batch 16"]) > 1.5, True),
    ("both students trail the teacher (delta_m < 0)",
     lambda s: max(s["student labels delta_m"], s["student distilled delta_m"]) < 0, True),
    ("the students are faster than the teacher at batch 16",
     lambda s: min(s["teacher / student labels ms"], s["teacher / student distilled ms"]) > 1, True),
    ("the distilled student has a higher delta_m than the one trained on labels alone",
     lambda s: s["student distilled delta_m"] > s["student labels delta_m"], False),
    ("distillation raises the mIoU", lambda s: s["student distilled miou"] > s["student labels miou"], False),
    ("distillation raises the edge F-score", lambda s: s["student distilled edges"] > s["student labels edges"],
     False),
    ("distillation lowers the depth error", lambda s: s["student distilled depth"] < s["student labels depth"], False),
    ("global pruning beats per-layer pruning at 30% and 50%",
     lambda s: all(s[f"prune global {a} delta_m"] > s[f"prune layer {a} delta_m"] for a in (0.3, 0.5)), True),
    ("global pruning of half the weights costs less than 5% (delta_m > -5)",
     lambda s: s["prune global 0.5 delta_m"] > -5, True),
    ("global pruning of 30% costs less than 2% (delta_m > -2)", lambda s: s["prune global 0.3 delta_m"] > -2, True),
    ("per-layer pruning of half the weights costs more than 20% (delta_m < -20)",
     lambda s: s["prune layer 0.5 delta_m"] < -20, True),
    ("global pruning of 70% costs more than at 50%",
     lambda s: s["prune global 0.7 delta_m"] < s["prune global 0.5 delta_m"], True),
    ("structured pruning of 10% of the trunk's channels costs more than global pruning of 50% of the weights",
     lambda s: s["prune structured 0.1 delta_m"] < s["prune global 0.5 delta_m"], True),
    ("half the weights zero: latency within 25% of the dense teacher's",
     lambda s: 0.75 < s["pruned / dense ms"] < 1.25, False),
    ("ONNX Runtime's outputs within 1e-4 of PyTorch's", lambda s: s["onnx max diff"] < 1e-4, True),
    ("int8 with float heads: |delta_m| < 1%", lambda s: abs(s["int8 delta_m"]) < 1, True),
    ("int8 of the heads too costs more than with float heads",
     lambda s: s["int8 heads too delta_m"] < s["int8 delta_m"], False),
    ("int8 of the heads too costs more than 10%", lambda s: s["int8 heads too delta_m"] < -10, False),
    ("the int8 file is over 3x smaller", lambda s: s["int8 size ratio"] > 3, True),
    ("int8 (float heads) runs faster than float32 in ONNX Runtime on this CPU", lambda s: s["int8 / fp32 onnx ms"] < 1,
     False),
]


def lesson_09(seeds: list[int]) -> bool:
    """Lesson 09: each number over seeds, and which claims hold on every seed (the lesson states only those)."""
    return check_claims("Lesson 09 — smaller and deployed", lesson_09_runs, LESSON_09_CLAIMS, seeds)[0]


# ---- lesson 08: your own frames (OWN_DATA), read from PNGs, augmented, trained through the DataLoader path -------
def lesson_08_runs(seed: int) -> dict[str, float]:
    """Lesson 08 for one seed (frames drawn with this seed, model seeded with it): the ids a mask resized as an image
    invents on frame 0, reading vs training speed, and the per-class IoUs after the lesson's training."""
    import time

    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from mtl_course.data import CLASSES, load_dataset
    from mtl_course.lessons.own_data import OUTLINE, write_frames
    from mtl_course.train import fit

    setup = preset("08").replace(seed=seed)
    root = write_frames(tempfile.mkdtemp(prefix="verify08-"), setup)
    options = dict(size=setup.size, classes=CLASSES, void=OUTLINE)
    mask = torch.from_numpy(np.array(Image.open(root / "trainannot" / "0000.png"))).long()
    semseg = mask.masked_fill(mask == OUTLINE, 255)
    blended = v2.Resize(setup.size, antialias=True)(semseg[None].float())[0].round().long()
    nearest = v2.Resize(setup.size, antialias=True)(tv_tensors.Mask(semseg))
    augment = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomResizedCrop(setup.size, scale=(0.6, 1.0), antialias=True),
                          v2.ColorJitter(brightness=0.3, contrast=0.3)])                    # as in the lesson
    train = load_dataset("folder", root, "train", **options)
    augmented = load_dataset("folder", root, "train", transforms=augment, **options)
    val = load_dataset("folder", root, "val", **options)
    tasks = [get_task("semseg", num_classes=len(CLASSES)), get_task("edges")]
    model = build_model(tasks, seed=seed)
    history = fit(model, tasks, augmented, val, epochs=setup.epochs, batch_size=setup.batch_size, lr=setup.lr,
                  workers=2, seed=seed, progress=False)
    start = time.perf_counter()
    for i in range(len(train)):
        train[i]
    reading = len(train) / (time.perf_counter() - start)
    scores = evaluate(model, tasks, val, per_class=True)
    masks = torch.stack([val[i]["semseg"] for i in range(len(val))])
    iou = scores["semseg"]["iou"]
    return {"foreign ids (as image)": float((~torch.isin(blended, semseg.unique())).sum()),
            "foreign ids (as Mask)": float((~torch.isin(nearest, semseg.unique())).sum()),
            "reading / training speed": reading / (setup.batch_size / history.seconds_per_step),
            "miou": scores["semseg"]["miou"], "edges f_score": scores["edges"]["f_score"],
            "background share": float((masks == 0).float().mean()), "background iou": iou[0],
            "best object iou": max(v for v in iou[1:] if v == v),
            "largest object share": max(float((masks == c).float().mean()) for c in range(1, len(CLASSES)))}


LESSON_08_CLAIMS = [  # (text, test on one seed's runs, stated in the lesson)
    ("a mask resized as an image gets ids that are nowhere in the frame",
     lambda s: s["foreign ids (as image)"] > 0, True),
    ("a mask resized as a Mask keeps the frame's ids only", lambda s: s["foreign ids (as Mask)"] == 0, True),
    ("reading frames is many (> 5) times faster than training on them on this CPU",
     lambda s: s["reading / training speed"] > 5, True),
    ("the background covers most pixels (> 50%) and each object class a few percent (< 10%)",
     lambda s: s["background share"] > 0.5 and s["largest object share"] < 0.1, True),
    ("the background has the highest IoU", lambda s: s["background iou"] > s["best object iou"], True),
]


def lesson_08(seeds: list[int]) -> bool:
    """Lesson 08: each number over seeds, and which claims hold on every seed (the lesson states only those)."""
    return check_claims("Lesson 08 — your own data", lesson_08_runs, LESSON_08_CLAIMS, seeds)[0]


LESSONS = {"01": lesson_01, "02": lesson_02, "03": lesson_03, "04": lesson_04, "05": lesson_05, "06": lesson_06,
           "07": lesson_07, "08": lesson_08, "09": lesson_09}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--lessons", nargs="+", default=sorted(LESSONS), choices=sorted(LESSONS))
    parser.add_argument("--scale", default="laptop", choices=SCALES, help="each lesson's preset (default laptop)")
    args = parser.parse_args()
    global SCALE
    SCALE = args.scale
    print(f"scale {SCALE}: " + ", ".join(f"{lesson} {preset(lesson)}" for lesson in args.lessons), flush=True)
    if len(args.seeds) < 5:
        print("note: the lessons' claims are checked over at least 5 seeds")
    results = {lesson: LESSONS[lesson](args.seeds) for lesson in args.lessons}
    failed = [lesson for lesson, ok in results.items() if not ok]
    print("\nall claims hold" if not failed else f"\nclaims FAIL for lesson(s) {failed}: change the lesson")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

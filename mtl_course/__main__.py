"""Command line of the course:

    python -m mtl_course build-exercises [--check]          exercises/ from solutions/
    python -m mtl_course grade SUB.ipynb ... --out grades.csv [--timeout S]
    python -m mtl_course pretrain [--out FILE] [--device cpu]  the course backbone (mtl_course/assets/)
    python -m mtl_course train CONFIG [--out DIR] [--epochs N]  train from a TOML file (configs/example.toml);
        the same command runs on N processes with  torchrun --nproc_per_node=N -m mtl_course train CONFIG
    python -m mtl_course --version
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch.distributed as dist

from mtl_course import __version__
from mtl_course.grading.build import build_exercises
from mtl_course.grading.grade import grade as run_grading
from mtl_course.lessons.pretrain import PretrainSetup, pretrain
from mtl_course.models.pretrained import COURSE_BACKBONES, sha256_of
from mtl_course.train.config import train_from_config

COURSE_ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mtl-course {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build-exercises", help="write exercises/ from solutions/")
    build.add_argument("--check", action="store_true", help="only compare; exit 1 if exercises/ is out of date")
    build.add_argument("--solutions", type=Path, default=COURSE_ROOT / "solutions")
    build.add_argument("--exercises", type=Path, default=COURSE_ROOT / "exercises")
    grade = commands.add_parser("grade", help="grade submitted exercise notebooks into a CSV file")
    grade.add_argument("submissions", type=Path, nargs="+")
    grade.add_argument("--out", type=Path, default=Path("grades.csv"))
    grade.add_argument("--timeout", type=float, default=120, help="seconds allowed per cell (default 120)")
    grade.add_argument("--solutions", type=Path, default=COURSE_ROOT / "solutions")
    pre = commands.add_parser("pretrain", help="train the course backbone on the source domain (~5 min on a 2-core "
                                               "CPU; the shipped file is reproduced byte for byte on the CPU)")
    pre.add_argument("--encoder", default="unet", choices=["unet"], help="the architecture (the course ships unet)")
    pre.add_argument("--out", type=Path, default=None, help="where to write it (default: the package's assets folder)")
    pre.add_argument("--device", default="cpu", help="cpu (default, reproducible) or cuda (~15 s on an H100)")
    run = commands.add_parser("train", help="train from a TOML config (resumes from OUT/last.pt if it exists; "
                                            "works under torchrun)")
    run.add_argument("config", type=Path)
    run.add_argument("--out", type=Path, default=None, help="output folder (default: [train] out, or runs/CONFIG)")
    run.add_argument("--epochs", type=int, default=None, help="override [train] epochs")
    args = parser.parse_args(argv)

    if args.command == "train":
        try:
            train_from_config(args.config, out=args.out, epochs=args.epochs)
        except (FileNotFoundError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        finally:
            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
        return 0

    if args.command == "pretrain":
        path = pretrain(PretrainSetup(encoder=args.encoder), out=args.out, device=args.device)
        same = sha256_of(path) == COURSE_BACKBONES[args.encoder][1]
        print("identical to the shipped backbone" if same else
              "differs from the shipped backbone (another platform, torch version or device rounds differently); "
              "load it with mtl_course.models.load_backbone(model, path)")
        return 0

    if args.command in ("build-exercises", "grade") and not args.solutions.is_dir():
        parser.error(f"no solutions folder at {args.solutions}: the solution notebooks live in the course's "
                     f"repository (solutions/), not in the installed package; pass --solutions PATH")

    if args.command == "build-exercises":
        problems = build_exercises(args.solutions, args.exercises, check=args.check)
        if args.check:
            for problem in problems:
                print(problem)
            print("exercises/ is up to date" if not problems else
                  "exercises/ is out of date: run `python -m mtl_course build-exercises`")
            return 1 if problems else 0
        print(f"wrote {len(list(args.solutions.glob('*.ipynb')))} exercise notebook(s) to {args.exercises}")
        return 1 if problems else 0

    run_grading(args.submissions, args.solutions, args.out, args.timeout)
    print(f"grades written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The course as a learner on Colab or Binder gets it: a regular (non-editable) install of the wheel.

Builds the wheel, installs it into a fresh virtual environment outside the repository, and runs a smoke
script there from another folder: the shipped backbone loads with its SHA-256 checked, one epoch of `fit`
runs with its data cached in the user cache folder, `python -m mtl_course --version` answers, and
`python -m mtl_course grade` scores a solution. The fresh environment borrows torch and the other
dependencies from the test's own environment through a .pth file appended after its own site-packages
(so the installed copy of mtl_course comes first, and nothing is downloaded).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = """
import sys
from pathlib import Path

import mtl_course
from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.models.pretrained import COURSE_BACKBONES, pretrained_dir, sha256_of
from mtl_course.tasks import get_task
from mtl_course.train import evaluate, fit

venv = Path(sys.argv[1]).resolve()
assert Path(mtl_course.__file__).resolve().is_relative_to(venv), mtl_course.__file__
backbone = pretrained_dir() / COURSE_BACKBONES["unet"][0]
assert backbone.resolve().is_relative_to(venv) and sha256_of(backbone) == COURSE_BACKBONES["unet"][1]
tasks = [get_task("semseg", num_classes=6), get_task("depth")]
model = build_model(tasks, encoder="unet", pretrained="course")        # checks the SHA-256 itself
assert model.backbone_info["parts"] == ["encoder"]
train = SyntheticScenes(n=32, size=32, split="train")
val = SyntheticScenes(n=16, size=32, split="val")
history = fit(model, tasks, train, val, epochs=1, batch_size=16, progress=False)
scores = evaluate(model, tasks, val)
print("cache files:", sorted(p.name for p in Path(sys.argv[2]).rglob("scenes-*.pt")))
print(f"smoke ok: semseg mIoU {scores['semseg']['miou']:.3f}, depth error {scores['depth']['abs_err']:.3f} m")
"""


def run(*args: str | Path, cwd: Path, env: dict | None = None, timeout: int = 600) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(venv python, a work folder outside the repository, the environment to run it in)."""
    base = tmp_path_factory.mktemp("install")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", base / "dist",
        ROOT, cwd=base)
    wheel = next((base / "dist").glob("mtl_course-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "mtl_course/assets/unet-course.pt" in names and any(n.endswith("licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "notebooks/", "solutions/", "data/")) for n in names)
    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=base).strip())
    # install the wheel into the new venv with this environment's pip, then borrow this environment's packages
    run(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target", purelib, wheel,
        cwd=base)
    (purelib / "zz_borrowed_packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    work = base / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTL_COURSE_")}
    env.update(XDG_CACHE_HOME=str(base / "user-cache"), MPLBACKEND="Agg", MTL_COURSE_PROGRESS="0")
    return python, work, env


def test_installed_package_carries_its_backbone_and_trains(installed):
    python, work, env = installed
    out = run(python, "-c", SMOKE, python.parents[1], Path(env["XDG_CACHE_HOME"]) / "mtl_course", cwd=work, env=env)
    assert "smoke ok" in out and "scenes-" in out.split("cache files:")[1], out


def test_installed_cli_version_and_grading(installed):
    python, work, env = installed
    from mtl_course import __version__
    assert run(python, "-m", "mtl_course", "--version", cwd=work, env=env).strip() == f"mtl-course {__version__}"
    solution = ROOT / "solutions" / "01_metrics_and_losses.ipynb"
    out = run(python, "-m", "mtl_course", "grade", solution, "--solutions", ROOT / "solutions",
              "--out", work / "grades.csv", cwd=work, env=env)
    row = next(csv.DictReader(open(work / "grades.csv")))
    assert float(row["total"]) == float(row["max"]) > 0 and not row["errors"], (out, row)


def test_installed_cli_asks_for_the_solutions_folder(installed):
    python, work, env = installed
    done = subprocess.run([python, "-m", "mtl_course", "grade", "x.ipynb"], cwd=work, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 2 and "pass --solutions PATH" in done.stderr

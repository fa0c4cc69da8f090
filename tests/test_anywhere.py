"""Every notebook opens anywhere: the same setup cell after the title, and a Colab badge in the README.

The setup cell's logic is run here without the network: with mtl_course importable it does nothing (never
pip); on Colab without it, it runs exactly one pip install of the course from the repository; elsewhere
without it, it stops with advice instead of installing into someone's environment.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb"), *ROOT.glob("exercises/*.ipynb")])
REPOSITORY = re.search(r'^Source = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]   # [project.urls]


def setup_cell(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# "), path.name
    return notebook.cells[1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_starts_with_the_same_setup_cell(path):
    cell = setup_cell(path)
    assert cell.cell_type == "code" and cell.source == setup_cell(NOTEBOOKS[0]).source
    assert f"mtl-course @ git+{REPOSITORY}" in cell.source


def run_setup_cell(monkeypatch, importable: bool, colab: bool) -> list:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real_find_spec(name, *a) if importable or name != "mtl_course" else None))
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(setup_cell(NOTEBOOKS[0]).source, {})
    return calls


@pytest.mark.parametrize("colab", [False, True])
def test_setup_cell_does_nothing_where_the_course_is_importable(monkeypatch, colab):
    assert run_setup_cell(monkeypatch, importable=True, colab=colab) == []


def test_setup_cell_installs_the_course_on_colab(monkeypatch):
    calls = run_setup_cell(monkeypatch, importable=False, colab=True)
    assert calls == [(([sys.executable, "-m", "pip", "install", "--quiet", f"mtl-course @ git+{REPOSITORY}"],),
                      {"check": True})]


def test_setup_cell_elsewhere_says_how_to_install_and_installs_nothing(monkeypatch):
    with pytest.raises(ModuleNotFoundError, match=r"make lab.*pip install git\+"):
        run_setup_cell(monkeypatch, importable=False, colab=False)


def test_readme_has_a_colab_badge_for_every_lesson_and_exercise():
    readme = (ROOT / "README.md").read_text()
    colab = REPOSITORY.replace("https://github.com/", "https://colab.research.google.com/github/") + "/blob/main/"
    linked = set(re.findall(re.escape(colab) + r"([\w/]+\.ipynb)\)", readme))
    expected = {str(p.relative_to(ROOT)) for p in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("exercises/*.ipynb")]}
    assert linked == expected

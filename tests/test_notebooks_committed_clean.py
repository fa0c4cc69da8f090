"""Notebooks are committed without outputs, so diffs stay readable and learners run them fresh."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for folder in ("notebooks", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb"))


def test_there_are_lessons():
    assert (ROOT / "notebooks" / "00_welcome_and_data.ipynb").is_file()
    assert (ROOT / "notebooks" / "01_single_task_baselines.ipynb").is_file()
    assert (ROOT / "notebooks" / "02_hard_parameter_sharing.ipynb").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_outputs_or_execution_counts(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_use_only_the_public_api(path):
    nb = json.loads(path.read_text())
    source = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "from mtl_course._" not in source and "import *" not in source

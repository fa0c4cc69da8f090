"""Build student notebooks (exercises/) from the instructor's notebooks (solutions/).

In a solution notebook's code cells (nbgrader's markers):

    ### BEGIN SOLUTION          ->  # YOUR CODE HERE
    ...the answer...                raise NotImplementedError()
    ### END SOLUTION

    ### BEGIN HIDDEN TESTS      ->  (removed; kept in solutions/ for grading)
    ...
    ### END HIDDEN TESTS

Outputs and execution counts are cleared. Cell metadata (nbgrader's grade_id, points, ...) is kept,
so an instructor can also use nbgrader itself on these notebooks.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

MARKERS = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) (?P<what>SOLUTION|HIDDEN TESTS)\s*$")


class MarkerError(ValueError):
    """A solution notebook's markers do not pair up."""


def strip_source(source: str, where: str = "cell") -> str:
    """The student version of one cell's source (see the module docstring)."""
    out: list[str] = []
    inside: str | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        match = MARKERS.match(line)
        if match is None:
            if inside is None:
                out.append(line)
            continue
        kind, what, indent = match["kind"], match["what"], match["indent"]
        if kind == "BEGIN":
            if inside is not None:
                raise MarkerError(f"{where}, line {number}: '### BEGIN {what}' inside an open {inside} block")
            inside = what
            if what == "SOLUTION":
                out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        else:
            if inside != what:
                raise MarkerError(f"{where}, line {number}: '### END {what}' without a matching BEGIN")
            inside = None
    if inside is not None:
        raise MarkerError(f"{where}: '### BEGIN {inside}' is never closed")
    return "\n".join(out).rstrip("\n")


def hidden_tests(source: str) -> str:
    """The hidden-test lines of a cell (what the student copy drops), joined, markers removed."""
    lines, inside = [], False
    for line in source.splitlines():
        match = MARKERS.match(line)
        if match and match["what"] == "HIDDEN TESTS":
            inside = match["kind"] == "BEGIN"
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def student_notebook(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A copy of the solution notebook with answers replaced, hidden tests removed, outputs cleared."""
    notebook = nbformat.from_dict(solution)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.source = strip_source(cell.source, where=f"{name} cell {index}")
            cell.outputs = []
            cell.execution_count = None
    return notebook


def render(solution_path: Path) -> str:
    """The exact text build-exercises writes for one solution notebook."""
    solution = nbformat.read(solution_path, as_version=4)
    return nbformat.writes(student_notebook(solution, solution_path.name)) + "\n"


def build_exercises(solutions: Path, exercises: Path, check: bool = False) -> list[str]:
    """Write exercises/ from solutions/ (or with check=True, only compare). Returns the problems found:
    files that differ, are missing, or are in exercises/ without a solution."""
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no solution notebooks (*.ipynb) in {solutions}")
    problems = []
    for source in sources:
        target = exercises / source.name
        text = render(source)
        if check:
            if not target.is_file():
                problems.append(f"{target} is missing")
            elif target.read_text() != text:
                problems.append(f"{target} differs from what {source} builds")
        else:
            exercises.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    expected = {s.name for s in sources}
    problems += [f"{extra} has no solution notebook in {solutions}"
                 for extra in sorted(exercises.glob("*.ipynb")) if extra.name not in expected]
    return problems

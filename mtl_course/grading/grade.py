"""Grade submitted exercise notebooks: run each in a fresh kernel, then the tests of every question.

For each submission the grader
1. finds its solution notebook (notebook metadata mtl_course.exercise, else the file name's number);
2. appends one grading cell per question, holding that question's visible and hidden tests taken from
   solutions/ (never from the submission). Each grading cell first re-imports mtl_course.grading fresh
   and rebinds `check`, so redefining `check` or monkeypatching the grading package earns nothing;
3. runs everything in a new kernel (nbclient), each cell limited to `timeout` seconds;
4. gives a question its points only if its grading cell ran, raised nothing, and printed the run's
   random sentinel. A crash, a time-out or a dead kernel give zero for what did not pass, never a pass;
   after a kernel death in one question's tests, the remaining questions are graded in a fresh kernel.

The grader is not a sandbox: run submissions you do not trust in a container.
"""

from __future__ import annotations

import csv
import re
import secrets
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from mtl_course.grading.build import MARKERS


@dataclass(frozen=True)
class QuestionSpec:
    id: str
    points: float
    tests: str           # the test cell's source from solutions/, visible and hidden, without markers


@dataclass
class Result:
    submission: str
    exercise: str = ""
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.points.values())


def question_specs(solution: nbformat.NotebookNode) -> list[QuestionSpec]:
    """The graded test cells of a solution notebook (nbgrader metadata grade=True)."""
    specs = []
    for cell in solution.cells:
        meta = cell.get("metadata", {})
        if cell.cell_type == "code" and meta.get("nbgrader", {}).get("grade"):
            source = "\n".join(line for line in cell.source.splitlines() if not MARKERS.match(line))
            specs.append(QuestionSpec(meta["mtl_course"]["question"], float(meta["nbgrader"].get("points", 1)),
                                      source))
    return specs


def exercise_id(notebook: nbformat.NotebookNode, path: Path) -> str:
    meta = notebook.get("metadata", {}).get("mtl_course", {})
    if meta.get("exercise"):
        return str(meta["exercise"])
    match = re.match(r"(\d\d)", path.name)
    if not match:
        raise ValueError(f"cannot tell which exercise {path.name} is: no mtl_course.exercise metadata and the "
                         f"file name does not start with its number (e.g. 01_...)")
    return match.group(1)


def grading_cell(spec: QuestionSpec, sentinel: str) -> str:
    """Source of the cell that grades one question inside the submission's kernel."""
    return "\n".join([
        f"# ---- grading {spec.id} ----",
        "import importlib as _grading_importlib, sys as _grading_sys",
        "# fresh copies of the grading code: the question registry first, then every exercise (re-registering",
        "# its questions), then the checks and the package; whatever the submission did to them is undone",
        "_grading_importlib.import_module('mtl_course.grading.checks')",
        "for _grading_name in ['mtl_course.grading.questions',",
        "                      *sorted(n for n in _grading_sys.modules if n.startswith('mtl_course.grading.exercise')),",
        "                      'mtl_course.grading.checks', 'mtl_course.grading']:",
        "    _grading_importlib.reload(_grading_sys.modules[_grading_name])",
        "_grading_verdict = _grading_sys.modules['mtl_course.grading.checks'].verdict",
        "def check(question_id, answer):",
        "    status, message = _grading_verdict(question_id, answer)",
        "    print(message)",
        "    assert status == 'correct', message.splitlines()[0]",
        spec.tests,
        f"print({sentinel!r})",
    ])


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters, cut between words and marked with " …" when cut."""
    return textwrap.shorten(" ".join(text.split()), width, placeholder=" …")


def _is_test_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def _run(cells: list, timeout: float) -> tuple[nbformat.NotebookNode, int | None, str | None]:
    """Execute cells in a fresh kernel. Returns (executed notebook, index of the cell running when the
    kernel died or None, error text or None)."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.from_dict(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    started: list[int] = []
    with tempfile.TemporaryDirectory(prefix="mtl-grade-") as workdir:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                                interrupt_on_timeout=True, record_timing=False,
                                on_cell_start=lambda cell, cell_index: started.append(cell_index),
                                resources={"metadata": {"path": workdir}})
        try:
            client.execute()
        except DeadKernelError:
            return notebook, (started[-1] if started else 0), "the kernel died"
        except CellTimeoutError:
            return notebook, None, f"a cell ran longer than {timeout:g} s and could not be interrupted"
        except Exception as err:
            return notebook, None, f"execution stopped: {type(err).__name__}: {shorten(str(err), 200)}"
    return notebook, None, None


def grade_submission(path: Path, solutions: Path, timeout: float = 120) -> Result:
    """Run one submission and its questions' tests; never raises for a bad submission.

    The submission's own test cells are skipped (the tests come from solutions/). If a question's
    grading cell kills the kernel, that question scores 0 and the remaining ones are graded in a fresh
    kernel that re-runs the submission's cells first.
    """
    result = Result(submission=str(path))
    try:
        notebook = nbformat.read(path, as_version=4)
        result.exercise = exercise_id(notebook, path)
        matches = sorted(solutions.glob(f"{result.exercise}_*.ipynb"))
        if not matches:
            raise FileNotFoundError(f"no solution notebook {result.exercise}_*.ipynb in {solutions}")
        specs = question_specs(nbformat.read(matches[0], as_version=4))
    except Exception as err:
        result.errors.append(f"could not read the submission: {type(err).__name__}: {err}")
        return result
    result.max_points = {s.id: s.points for s in specs}
    result.points = {s.id: 0.0 for s in specs}

    student = [c for c in notebook.cells if c.cell_type == "code" and not _is_test_cell(c)]
    for cell in student:
        cell.outputs, cell.execution_count = [], None
    pending = list(specs)
    while pending:
        sentinels = {s.id: f"graded {s.id} ok {secrets.token_hex(16)}" for s in pending}
        grading = [nbformat.v4.new_code_cell(grading_cell(s, sentinels[s.id])) for s in pending]
        executed, died_at, error = _run(student + grading, timeout)
        finished = pending
        if died_at is not None:
            culprit = died_at - len(student)
            if culprit < 0:
                result.errors.append("the kernel died while running the submission's own cells; "
                                     "questions not graded before that get 0")
                break
            result.errors.append(f"{pending[culprit].id}: the kernel died (the answer exited or crashed Python)")
            finished = pending[:culprit]
        elif error:
            result.errors.append(error)
        for spec, cell in zip(finished, executed.cells[len(student):]):
            outputs = cell.get("outputs", [])
            failed = [o for o in outputs if o.get("output_type") == "error"]
            printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
            if cell.get("execution_count") is not None and not failed and sentinels[spec.id] in printed:
                result.points[spec.id] = spec.points
            elif failed:
                name, value = failed[0].get("ename", "Error"), shorten(str(failed[0].get("evalue", "")), 150)
                why = "timed out" if name == "KeyboardInterrupt" else f"{name}: {value}"
                result.errors.append(f"{spec.id}: {why}")
        pending = pending[len(finished) + 1:] if died_at is not None else []
    return result


def write_csv(results: list[Result], out: Path) -> None:
    """One row per submission: per-question points, total, maximum, errors."""
    questions = list(dict.fromkeys(q for r in results for q in r.max_points))
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "exercise", *questions, "total", "max", "errors"])
        for r in results:
            writer.writerow([r.submission, r.exercise, *[r.points.get(q, "") for q in questions],
                             r.total, sum(r.max_points.values()), " | ".join(r.errors)])


def grade(paths: list[Path], solutions: Path, out: Path, timeout: float = 120) -> list[Result]:
    results = []
    for path in paths:
        result = grade_submission(path, solutions, timeout)
        print(f"{path}: {result.total:g} / {sum(result.max_points.values()):g}"
              + (f"  ({'; '.join(result.errors)})" if result.errors else ""))
        results.append(result)
    write_csv(results, out)
    return results



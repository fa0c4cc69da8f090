"""A real nbgrader round trip on the course's exercises: what instructors who use nbgrader get.

An nbgrader course is built from solutions/ (its source), `nbgrader generate_assignment` releases each
exercise, three students hand in (every answer right; the release untouched; every answer wrong in a
plausible way, see submissions.WRONG), `nbgrader autograde` and `nbgrader export` score them, and the
scores must be the ones `python -m mtl_course grade` gives the same files, question by question:
full marks, 0, and 0 for every wrongly answered question. Skipped when nbgrader is not installed
(`pip install "mtl-course[nbgrader]"`).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mtl_course.grading.grade import grade_submission, question_specs
from submissions import ROOT, WRONG, correct_copy, solution_path, untouched_copy, wrong_copy

pytest.importorskip("nbgrader", reason="nbgrader is not installed: pip install 'mtl-course[nbgrader]'")

EXERCISES = sorted(WRONG)
STUDENTS = {"right": correct_copy, "untouched": lambda path: untouched_copy(path),
            "wrong": lambda path: wrong_copy(path.name[:2])}


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "MTL_COURSE_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--CourseDirectory.root=" + str(course)],
                          cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """An nbgrader course folder: source/ from solutions/, released, handed in by three students, autograded."""
    with pytest.MonkeyPatch.context() as patch:
        # nbgrader runs the `alembic` command of its environment (found on PATH) to open its gradebook
        patch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        yield build_course(tmp_path_factory.mktemp("nbgrader-course"))


def build_course(root: Path) -> Path:
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'mtl-course'\n"
        "c.ExecutePreprocessor.timeout = 300\n")
    for exercise in EXERCISES:
        solution = solution_path(exercise)
        (root / "source" / f"ex{exercise}").mkdir(parents=True)
        (root / "source" / f"ex{exercise}" / solution.name).write_bytes(solution.read_bytes())
    for exercise in EXERCISES:
        nbgrader(root, "generate_assignment", f"ex{exercise}", "--force")
        solution = solution_path(exercise)
        for student, make in STUDENTS.items():
            folder = root / "submitted" / student / f"ex{exercise}"
            folder.mkdir(parents=True)
            nbformat.write(make(solution), folder / solution.name)
            (folder / "timestamp.txt").write_text("2026-11-29 12:00:00.000000 UTC")
    for exercise in EXERCISES:
        nbgrader(root, "autograde", f"ex{exercise}", "--force")
    nbgrader(root, "export", "--to", str(root / "grades.csv"))
    return root


def nbgrader_scores(course: Path, exercise: str, student: str) -> dict[str, float]:
    """{question id: points} as nbgrader's gradebook holds them after autograde."""
    from nbgrader.api import Gradebook

    solution = nbformat.read(solution_path(exercise), as_version=4)
    question_of = {c.metadata["nbgrader"]["grade_id"]: c.metadata["mtl_course"]["question"]
                   for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade")}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="mtl-course") as gradebook:
        notebook = gradebook.find_submission_notebook(solution_path(exercise).stem, f"ex{exercise}", student)
        return {question_of[g.name]: g.score for g in notebook.grades}


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_release_is_our_student_copy_cell_for_cell(course, exercise):
    released = nbformat.read(course / "release" / f"ex{exercise}" / solution_path(exercise).name, as_version=4)
    ours = untouched_copy(solution_path(exercise))
    assert [(c.cell_type, c.source) for c in released.cells] == [(c.cell_type, c.source) for c in ours.cells]


@pytest.mark.parametrize("exercise", EXERCISES)
def test_nbgrader_and_our_grader_agree_question_by_question(course, exercise):
    solution = solution_path(exercise)
    points = {s.id: s.points for s in question_specs(nbformat.read(solution, as_version=4))}
    for student in STUDENTS:
        theirs = nbgrader_scores(course, exercise, student)
        ours = grade_submission(course / "submitted" / student / f"ex{exercise}" / solution.name,
                                ROOT / "solutions").points
        expected = points if student == "right" else {q: 0.0 for q in points}
        assert theirs == expected, f"nbgrader, {student}: {theirs}"
        assert ours == expected, f"mtl_course grade, {student}: {ours}"


def test_export_totals(course):
    rows = list(csv.DictReader(open(course / "grades.csv")))
    totals = {(r["assignment"], r["student_id"]): float(r["raw_score"]) for r in rows}
    maximum = {f"ex{e}": sum(s.points for s in question_specs(nbformat.read(solution_path(e), as_version=4)))
               for e in EXERCISES}
    assert totals == {(a, s): (m if s == "right" else 0.0) for a, m in maximum.items() for s in STUDENTS}


def test_no_grade_cell_writes_to_stderr(course):
    """nbgrader scores a test cell that writes to stderr as failed: the right answers must write nothing there."""
    for exercise in EXERCISES:
        graded = nbformat.read(course / "autograded" / "right" / f"ex{exercise}" / solution_path(exercise).name,
                               as_version=4)
        for cell in graded.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                stderr = [o for o in cell.get("outputs", []) if o.get("name") == "stderr"]
                assert not stderr, (exercise, cell.source, stderr)

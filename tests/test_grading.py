"""The grading CLI on fixture submissions made from the solutions (so they cannot drift from them)."""

import csv
from pathlib import Path

import nbformat
import pytest

from mtl_course.__main__ import main
from submissions import correct_copy, replace_answer

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_01 = ROOT / "solutions" / "01_metrics_and_losses.ipynb"
SOLUTION_02 = ROOT / "solutions" / "02_hard_sharing.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    subs = {}

    def save(name, notebook):
        path = folder / f"01_{name}.ipynb"
        nbformat.write(notebook, path)
        subs[name] = path

    save("correct", correct_copy(SOLUTION_01))
    save("untouched", nbformat.read(ROOT / "exercises" / SOLUTION_01.name, as_version=4))
    save("infinite_loop", replace_answer(correct_copy(SOLUTION_01), "q2-answer",
                                         "def masked_l1(pred, target):\n    while True:\n        pass"))
    save("kills_kernel", replace_answer(correct_copy(SOLUTION_01), "q3-answer",
                                        "import os\ndef edge_pixel_weights(target):\n    os._exit(1)"))
    flood = correct_copy(SOLUTION_01)
    flood.cells.insert(2, nbformat.v4.new_code_cell("for _ in range(6000):\n    print('spam ' * 200)"))
    save("floods_output", flood)
    cheat = nbformat.read(ROOT / "exercises" / SOLUTION_01.name, as_version=4)
    cheat.cells.append(nbformat.v4.new_code_cell(
        "check = lambda *args, **kwargs: True\n"
        "import mtl_course.grading, mtl_course.grading.checks\n"
        "mtl_course.grading.check = check\n"
        "mtl_course.grading.checks.check = check\n"
        "mtl_course.grading.checks.verdict = lambda *a, **k: ('correct', 'fake')\n"
        "print('all correct, trust me')"))
    save("overrides_check", cheat)
    save("long_error", replace_answer(correct_copy(SOLUTION_01), "q1-answer",
                                      "def miou_from_confusion(confusion):\n    raise ValueError('tokens ' * 80)"))
    broken = folder / "01_not_a_notebook.ipynb"
    broken.write_text("this is not json")
    subs["not_a_notebook"] = broken
    nbformat.write(correct_copy(SOLUTION_02), folder / "02_correct.ipynb")
    subs["correct_02"] = folder / "02_correct.ipynb"

    out = folder / "grades.csv"
    order = ["correct", "untouched", "infinite_loop", "kills_kernel", "floods_output", "overrides_check",
             "long_error", "not_a_notebook", "correct_02"]
    assert main(["grade", *[str(subs[n]) for n in order], "--out", str(out), "--timeout", "30"]) == 0
    rows = list(csv.DictReader(out.open()))
    return {name: row for name, row in zip(order, rows)}


def points(row, *questions):
    return [float(row[q]) for q in questions]


Q = ("01.q1", "01.q2", "01.q3", "01.q4")


def test_correct_submission_gets_full_marks(graded):
    assert points(graded["correct"], *Q) == [2, 2, 2, 1]
    assert float(graded["correct"]["total"]) == float(graded["correct"]["max"]) == 7
    assert graded["correct"]["errors"] == ""


def test_untouched_exercise_gets_zero_and_says_why(graded):
    assert float(graded["untouched"]["total"]) == 0
    assert "not answered yet" in graded["untouched"]["errors"]


def test_infinite_loop_times_out_that_question_only(graded):
    assert points(graded["infinite_loop"], *Q) == [2, 0, 2, 1]
    assert "01.q2: timed out" in graded["infinite_loop"]["errors"]


def test_killed_kernel_is_never_a_pass_and_grading_goes_on(graded):
    assert points(graded["kills_kernel"], *Q) == [2, 2, 0, 1]          # q4 graded in a fresh kernel
    assert "01.q3: the kernel died" in graded["kills_kernel"]["errors"]
    assert float(graded["floods_output"]["total"]) == 7          # the next submission is still graded


def test_output_flood_does_not_disturb_grading(graded):
    assert float(graded["floods_output"]["total"]) == 7
    assert len(graded["floods_output"]["errors"]) < 1000


def test_overriding_check_earns_nothing(graded):
    assert float(graded["overrides_check"]["total"]) == 0


def test_unreadable_submission_is_zero_with_an_error(graded):
    assert float(graded["not_a_notebook"]["total"]) == 0
    assert "could not read the submission" in graded["not_a_notebook"]["errors"]


def test_columns_cover_every_exercise(graded):
    row = graded["correct_02"]
    assert points(row, "02.q1", "02.q2", "02.q3", "02.q4") == [2, 3, 1, 1]
    assert row["01.q1"] == ""


def test_long_error_texts_are_shortened_between_words(graded):
    errors = graded["long_error"]["errors"]
    assert points(graded["long_error"], *Q) == [0, 2, 2, 1]
    assert errors.startswith("01.q1: AssertionError:") and errors.endswith(" …") and len(errors) < 200
    assert all(word == "tokens" for word in errors.split("ValueError:")[1].split()[:-1])     # no word cut in two

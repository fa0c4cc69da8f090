"""Exercises and grading: instant checks for learners, student-copy builds and a grader for instructors.

    from mtl_course.grading import check
    check("01.q1", miou_from_confusion)      # prints ✅, or ❌ with a hint and raises NotCorrectYet

Command line (see `python -m mtl_course --help`):
    python -m mtl_course build-exercises [--check]
    python -m mtl_course grade SUB.ipynb ... --out grades.csv [--timeout S]
"""

from mtl_course.grading.checks import NotCorrectYet, check, verdict
from mtl_course.grading.questions import QUESTIONS, rel_error

__all__ = ["NotCorrectYet", "QUESTIONS", "check", "rel_error", "verdict"]

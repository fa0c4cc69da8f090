"""Instant feedback for exercises: check("01.q2", answer) prints ✅ or ❌ with a hint.

A check is also the question's test, as nbgrader sees it: when the answer is not correct yet it prints
why, then raises `NotCorrectYet` (an AssertionError), so a grade cell scores only a correct answer under
nbgrader as under `python -m mtl_course grade`. An unfinished answer (None, or a function that still raises
NotImplementedError) is reported as "not answered yet", an answer that crashes with its error. `verdict`
judges without printing or raising. The questions live in exercise01.py ... exercise09.py (registered in
questions.py).
"""

from __future__ import annotations

from typing import Any

from mtl_course.grading import (exercise01, exercise02, exercise03, exercise04, exercise05,  # noqa: F401 (register)
                                exercise06, exercise07, exercise08, exercise09)
from mtl_course.grading.questions import QUESTIONS


def verdict(question_id: str, answer: Any) -> tuple[str, str]:
    """Judge an answer without printing: (status, message), status one of
    "correct", "wrong", "unanswered", "error" (the answer raised)."""
    if question_id not in QUESTIONS:
        raise ValueError(f"unknown question {question_id!r}; known questions: {sorted(QUESTIONS)}")
    q = QUESTIONS[question_id]
    if answer is None:
        return "unanswered", f"⏳ {q.id}: not answered yet — the answer is still None. Fill in the cell above and run it."
    try:
        correct, detail = q.verify(answer)
    except NotImplementedError:
        return "unanswered", (f"⏳ {q.id}: not answered yet — your code still raises NotImplementedError. Replace "
                              f"`raise NotImplementedError()` with your solution and run the cell again.")
    except Exception as err:  # a broken answer is feedback, not a crash
        return "error", f"❌ {q.id}: your answer raised {type(err).__name__}: {err}\n   Hint: {q.hint}"
    if correct:
        return "correct", f"✅ {q.id}: correct — {detail}"
    return "wrong", f"❌ {q.id}: not yet — {detail}\n   Hint: {q.hint}"


class NotCorrectYet(AssertionError):
    """Raised by check() when an answer is not correct (yet); the message above it says why."""


def check(question_id: str, answer: Any, quiet: bool = False) -> None:
    """Check an exercise answer: print the verdict (unless quiet); raise NotCorrectYet unless it is correct."""
    __tracebackhide__ = True          # IPython and pytest show the learner's cell, not this frame
    status, message = verdict(question_id, answer)
    if not quiet:
        print(message)
    if status != "correct":
        raise NotCorrectYet(f"{question_id} is {'not answered yet' if status == 'unanswered' else 'not correct yet'}"
                            " (see the message above)")

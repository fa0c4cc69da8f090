"""Instant feedback for exercises: check("01.q2", answer) prints ✅ or ❌ with a hint, returns a bool.

A check never raises because an answer is wrong: an unfinished answer (None, or a function that still
raises NotImplementedError) is reported as "not answered yet", an answer that crashes is reported with
its error. Numbers are compared by relative error, as in CS231n:
    rel_error(x, y) = max |x - y| / max(1e-8, |x| + |y|)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

QUESTIONS: dict[str, "Question"] = {}


@dataclass(frozen=True)
class Question:
    """verify(answer) returns (correct, detail); it may raise if the answer is broken."""

    id: str
    hint: str
    verify: Callable[[Any], tuple[bool, str]]


def question(id: str, hint: str) -> Callable:
    """Decorator: register a verify function as question `id`."""
    def register(verify: Callable[[Any], tuple[bool, str]]) -> Callable:
        QUESTIONS[id] = Question(id, hint, verify)
        return verify
    return register


def rel_error(x: Any, y: Any) -> float:
    """Largest relative difference between two numbers or tensors (0 = identical)."""
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    return float(((x - y).abs() / torch.clamp(x.abs() + y.abs(), min=1e-8)).max())


def close(value: Any, expected: Any, tolerance: float = 1e-6) -> tuple[bool, str]:
    """(correct, detail) for a numeric answer compared with the expected value."""
    value_t = torch.as_tensor(value, dtype=torch.float64)
    expected_t = torch.as_tensor(expected, dtype=torch.float64)
    if value_t.shape != expected_t.shape:
        return False, f"shape {tuple(value_t.shape)}, expected {tuple(expected_t.shape)}"
    error = rel_error(value_t, expected_t)
    return error <= tolerance, f"relative error {error:.1e} (tolerance {tolerance:.0e})"


def verdict(question_id: str, answer: Any) -> tuple[str, str]:
    """Judge an answer without printing: (status, message), status one of
    "correct", "wrong", "unanswered", "error" (the answer raised)."""
    import mtl_course.grading.exercises  # noqa: F401  (registers the questions)

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


def check(question_id: str, answer: Any, quiet: bool = False) -> bool:
    """Check an exercise answer; print the verdict (unless quiet) and return whether it is correct."""
    status, message = verdict(question_id, answer)
    if not quiet:
        print(message)
    return status == "correct"

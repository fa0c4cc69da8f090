"""The question registry: each exercise module registers its questions with @question(id, hint).

Numbers are compared by relative error, as in CS231n:
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

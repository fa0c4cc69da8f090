"""Two tiny quadratic programs, solved exactly by trying every support set (fine for T <= 12 tasks).

    min_norm_in_simplex(M):  argmin_{a >= 0, sum a = 1}  a^T M a          (MGDA's min-norm point)
    nonnegative_qp(M, q):    argmin_{x >= 0}  1/2 x^T M x + q^T x         (UPGrad's projections)

M is a Gram matrix (symmetric positive semi-definite). At the optimum, the non-zero entries (the support S)
solve a small linear system; so we solve that system for every S, keep the feasible solutions, and return
the one with the lowest objective. Exact, and easy to check against brute force.
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import Tensor

MAX_TASKS = 12
TOLERANCE = 1e-10


def _supports(n: int):
    if n > MAX_TASKS:
        raise ValueError(f"the exact solver handles at most {MAX_TASKS} tasks, got {n}")
    for size in range(1, n + 1):
        yield from combinations(range(n), size)


def min_norm_in_simplex(gram: Tensor) -> Tensor:
    """gram: float64 [T, T] -> a float64 [T] on the simplex minimising a^T gram a."""
    n = gram.shape[0]
    best, best_value = torch.full((n,), 1.0 / n, dtype=gram.dtype), float("inf")
    for support in _supports(n):
        s = list(support)
        k = len(s)
        # KKT on the face: M_SS a_S = lambda 1, 1^T a_S = 1
        system = torch.zeros(k + 1, k + 1, dtype=gram.dtype)
        system[:k, :k] = gram[s][:, s]
        system[:k, k] = -1.0
        system[k, :k] = 1.0
        rhs = torch.zeros(k + 1, dtype=gram.dtype)
        rhs[k] = 1.0
        solution = torch.linalg.lstsq(system, rhs.unsqueeze(1), driver="gelsd").solution.squeeze(1)[:k]
        if (solution < -TOLERANCE).any() or abs(float(solution.sum()) - 1) > 1e-6:
            continue
        candidate = torch.zeros(n, dtype=gram.dtype)
        candidate[s] = solution.clamp_min(0)
        candidate /= candidate.sum()
        value = float(candidate @ gram @ candidate)
        if value < best_value - 1e-15:
            best, best_value = candidate, value
    return best


def nonnegative_qp(gram: Tensor, q: Tensor) -> Tensor:
    """gram: float64 [T, T], q: float64 [T] -> x float64 [T] >= 0 minimising 1/2 x^T gram x + q^T x."""
    n = gram.shape[0]
    best, best_value = torch.zeros(n, dtype=gram.dtype), 0.0          # x = 0 is always feasible
    for support in _supports(n):
        s = list(support)
        solution = torch.linalg.lstsq(gram[s][:, s], -q[s].unsqueeze(1), driver="gelsd").solution.squeeze(1)
        if (solution < -TOLERANCE).any():
            continue
        candidate = torch.zeros(n, dtype=gram.dtype)
        candidate[s] = solution.clamp_min(0)
        value = float(0.5 * candidate @ gram @ candidate + q @ candidate)
        if value < best_value - 1e-15:
            best, best_value = candidate, value
    return best

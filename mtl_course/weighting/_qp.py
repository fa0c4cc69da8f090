"""Tiny convex problems over a Gram matrix, solved exactly by trying every support set at once (T <= 12 tasks).

    min_norm_in_simplex(M):  argmin_{a >= 0, sum a = 1}  a^T M a          (MGDA's min-norm point)
    nonnegative_qp(M, q):    argmin_{x >= 0}  1/2 x^T M x + q^T x         (UPGrad's projections)

M is a Gram matrix (symmetric positive semi-definite). At the optimum, the non-zero entries (the support S)
solve a small linear system; so we solve that system for every S, keep the feasible solutions, and return
the one with the lowest objective. Exact, and easy to check against brute force.

All 2^T - 1 systems are solved in one batched call, each written at full size T: outside S its rows and
columns are the identity (times M's scale), so its solution is 0 there. No Python branch depends on the data,
so the solvers run on the GPU without reading anything back to the host (no sync) — pass M on the device.
(The `_ex` solvers skip torch's check for singular systems, which would read a flag back to the host: a singular
face gives inf or NaN, fails the feasibility test, and another support wins.)
"""

from __future__ import annotations

import functools
from itertools import combinations

import torch
from torch import Tensor

MAX_TASKS = 12
TOLERANCE = 1e-10


@functools.lru_cache(maxsize=None)
def supports(n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """[2^n - 1, n] 0/1: row k marks the tasks in the k-th non-empty subset (smallest subsets first).
    Cached per device, so that no step copies it from the host."""
    if n > MAX_TASKS:
        raise ValueError(f"the exact solver handles at most {MAX_TASKS} tasks, got {n}")
    rows = [subset for size in range(1, n + 1) for subset in combinations(range(n), size)]
    mask = torch.zeros(len(rows), n, dtype=dtype)
    for k, subset in enumerate(rows):
        mask[k, list(subset)] = 1
    return mask.to(device)


def face_systems(gram: Tensor) -> tuple[Tensor, Tensor]:
    """(S [K, n] the supports, A [K, n, n]): A_k = M on S_k x S_k, scale * identity outside it."""
    n = gram.shape[0]
    S = supports(n, gram.device, gram.dtype)
    scale = gram.diagonal().abs().max().clamp_min(1e-30)          # keeps each system's conditioning M's own
    outside = torch.diag_embed(1 - S)                              # [K, n, n]: 1 on the diagonal outside S
    return S, gram * S[:, :, None] * S[:, None, :] + scale * outside


def min_norm_in_simplex(gram: Tensor) -> Tensor:
    """gram: float64 [T, T] -> a float64 [T] on the simplex minimising a^T gram a."""
    n = gram.shape[0]
    S, A = face_systems(gram)
    K = S.shape[0]
    # KKT on the face S:  M_SS a_S = lambda 1,  1^T a_S = 1   (unknowns a, lambda)
    system = torch.zeros(K, n + 1, n + 1, dtype=gram.dtype, device=gram.device)
    system[:, :n, :n] = A
    system[:, :n, n] = -S
    system[:, n, :n] = S
    rhs = torch.zeros(K, n + 1, 1, dtype=gram.dtype, device=gram.device)
    rhs[:, n] = 1.0
    solution = torch.linalg.solve_ex(system, rhs)[0][:, :n, 0]                  # [K, n]
    feasible = ((solution >= -TOLERANCE) | (S == 0)).all(dim=1) & ((solution.sum(dim=1) - 1).abs() <= 1e-6)
    candidate = solution.clamp_min(0) * S
    candidate = candidate / candidate.sum(dim=1, keepdim=True).clamp_min(1e-300)
    value = torch.where(feasible, torch.einsum("ki,ij,kj->k", candidate, gram, candidate), torch.inf)
    best = value.argmin().reshape(1)                                            # ties: the smallest support
    uniform = torch.full_like(candidate[0], 1.0 / n)
    return torch.where(torch.isfinite(value[best]), candidate.index_select(0, best)[0], uniform)


def nonnegative_qp(gram: Tensor, q: Tensor) -> Tensor:
    """gram: float64 [T, T], q: float64 [T] or [B, T] (B problems at once) -> x >= 0 of q's shape minimising
    1/2 x^T gram x + q^T x."""
    S, A = face_systems(gram)
    queries = q.reshape(-1, 1, q.shape[-1])                                     # [B, 1, n]
    # on the face S:  M_SS x_S = -q_S
    x = torch.einsum("kij,bkj->bki", torch.linalg.inv_ex(A)[0], -queries * S)   # [B, K, n]
    feasible = ((x >= -TOLERANCE) | (S == 0)).all(dim=-1)
    candidate = x.clamp_min(0) * S
    value = 0.5 * torch.einsum("bki,ij,bkj->bk", candidate, gram, candidate) + (queries * candidate).sum(dim=-1)
    value = torch.where(feasible, value, torch.inf)
    best = value.argmin(dim=1)                                                  # [B]
    chosen = candidate[torch.arange(len(best), device=gram.device), best]       # [B, n]
    better = value.gather(1, best[:, None])[:, 0] < -1e-15                      # x = 0 (value 0) is always feasible
    return torch.where(better[:, None], chosen, torch.zeros_like(chosen)).reshape(q.shape)

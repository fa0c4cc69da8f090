"""The gradient methods' device solvers (no host sync) against the host solvers they replaced (November 2026).

The previous solvers, kept here as references: support enumeration with one lstsq per support and Python
branches (MGDA, UPGrad), projected gradient descent in numpy with 300 steps (CAGrad), Newton's method with a
convergence test and a halving loop (Nash-MTL). The new ones solve every support in one batched call, CAGrad in
closed form per support, Nash with a fixed number of Newton steps. Stated tolerances: the same weights to 1e-6
(relative) where both are exact, and for CAGrad an objective never worse than the old solver's (PGD was the
approximate one). Random Gram matrices include rank-deficient and badly scaled ones.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
import torch

from mtl_course.weighting import get_weighting
from mtl_course.weighting._qp import min_norm_in_simplex, nonnegative_qp
from mtl_course.weighting.imtl import IMTL
from mtl_course.weighting.cagrad import cagrad_inner
from mtl_course.weighting.nash import nash_weights

# ---- the previous host solvers (verbatim but for names) ----


def old_min_norm_in_simplex(gram):
    n = gram.shape[0]
    best, best_value = torch.full((n,), 1.0 / n, dtype=gram.dtype), float("inf")
    for size in range(1, n + 1):
        for s in map(list, combinations(range(n), size)):
            k = len(s)
            system = torch.zeros(k + 1, k + 1, dtype=gram.dtype)
            system[:k, :k] = gram[s][:, s]
            system[:k, k] = -1.0
            system[k, :k] = 1.0
            rhs = torch.zeros(k + 1, dtype=gram.dtype)
            rhs[k] = 1.0
            solution = torch.linalg.lstsq(system, rhs.unsqueeze(1), driver="gelsd").solution.squeeze(1)[:k]
            if (solution < -1e-10).any() or abs(float(solution.sum()) - 1) > 1e-6:
                continue
            candidate = torch.zeros(n, dtype=gram.dtype)
            candidate[s] = solution.clamp_min(0)
            candidate /= candidate.sum()
            value = float(candidate @ gram @ candidate)
            if value < best_value - 1e-15:
                best, best_value = candidate, value
    return best


def old_nonnegative_qp(gram, q):
    n = gram.shape[0]
    best, best_value = torch.zeros(n, dtype=gram.dtype), 0.0
    for size in range(1, n + 1):
        for s in map(list, combinations(range(n), size)):
            solution = torch.linalg.lstsq(gram[s][:, s], -q[s].unsqueeze(1), driver="gelsd").solution.squeeze(1)
            if (solution < -1e-10).any():
                continue
            candidate = torch.zeros(n, dtype=gram.dtype)
            candidate[s] = solution.clamp_min(0)
            value = float(0.5 * candidate @ gram @ candidate + q @ candidate)
            if value < best_value - 1e-15:
                best, best_value = candidate, value
    return best


def project_to_simplex(v):
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1
    k = np.nonzero(u - cumulative / np.arange(1, len(v) + 1) > 0)[0][-1]
    return np.maximum(v - cumulative[k] / (k + 1), 0)


def old_cagrad_inner(gram, c, steps=300):
    n = len(gram)
    b = gram.mean(axis=1)
    sqrt_phi = c * np.sqrt(max(gram.mean(), 0.0))
    w = np.full(n, 1.0 / n)
    step = 1.0 / (np.abs(gram).max() + 1e-12)
    best, best_value = w, np.inf
    for _ in range(steps):
        norm = np.sqrt(max(w @ gram @ w, 1e-20))
        value = w @ b + sqrt_phi * norm
        if value < best_value:
            best, best_value = w, value
        w = project_to_simplex(w - step * (b + sqrt_phi * gram @ w / norm))
    return best


def old_nash_weights(gram, iterations=100):
    alpha = torch.ones(gram.shape[0], dtype=gram.dtype)
    for _ in range(iterations):
        residual = gram @ alpha - 1 / alpha
        if residual.abs().max() < 1e-12:
            break
        step = torch.linalg.solve(gram + torch.diag(1 / alpha ** 2), residual)
        scale = 1.0
        while (alpha - scale * step).min() <= 0:
            scale /= 2
        alpha = alpha - scale * step
    return alpha


def old_imtl(gram):
    n = gram.shape[0]
    norms = gram.diagonal().clamp_min(1e-20).sqrt()
    g_dot_u = gram / norms
    d_u = (g_dot_u[0, 0] - g_dot_u[0, 1:]).unsqueeze(0) - (g_dot_u[1:, 0:1] - g_dot_u[1:, 1:])
    g1_u = g_dot_u[0, 0] - g_dot_u[0, 1:]
    rest = torch.linalg.lstsq(d_u.T, g1_u.unsqueeze(1), driver="gelsd").solution.squeeze(1)
    return n * torch.cat([(1 - rest.sum()).unsqueeze(0), rest])


# ---- random Gram matrices: full rank, rank-deficient (T > dim), duplicated and opposite gradients, scales ----


def grams(count: int = 60):
    generator = torch.Generator().manual_seed(0)
    for i in range(count):
        tasks = 2 + i % 4                                              # 2..5 tasks
        dim = (1, 2, 3, 50)[i % 4]                                     # dim < tasks: rank-deficient
        grads = torch.randn(tasks, dim, generator=generator, dtype=torch.float64)
        if i % 5 == 0:
            grads[-1] = grads[0]                                       # a duplicate gradient
        if i % 7 == 0:
            grads[-1] = -grads[0]                                      # an opposite one
        grads = grads * 10.0 ** torch.randint(-3, 3, (tasks, 1), generator=generator)   # sizes 1e-3 .. 1e2
        yield i, grads @ grads.T


def objective_mgda(a, gram):
    return float(a @ gram @ a)


@pytest.mark.parametrize("i, gram", list(grams()))
def test_min_norm_point_matches_the_previous_solver(i, gram):
    new, old = min_norm_in_simplex(gram), old_min_norm_in_simplex(gram)
    assert new.min() >= 0 and float(new.sum()) == pytest.approx(1, abs=1e-9)
    scale = float(gram.diagonal().max())
    assert objective_mgda(new, gram) <= objective_mgda(old, gram) + 1e-9 * scale      # as low as the old optimum
    if torch.linalg.matrix_rank(gram) == gram.shape[0]:                                # unique minimiser: same a
        assert torch.allclose(new, old, atol=1e-6)


@pytest.mark.parametrize("i, gram", list(grams()))
def test_nonnegative_qp_matches_the_previous_solver(i, gram):
    value = lambda x, q: float(0.5 * x @ gram @ x + q @ x)
    scale = float(gram.diagonal().max())
    batch = nonnegative_qp(gram, gram)                                  # UPGrad's T problems in one call
    for t in range(gram.shape[0]):
        new, old = batch[t], old_nonnegative_qp(gram, gram[t])
        assert new.min() >= 0 and torch.equal(new, nonnegative_qp(gram, gram[t]))
        assert value(new, gram[t]) <= value(old, gram[t]) + 1e-9 * scale


@pytest.mark.parametrize("c", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("i, gram", list(grams(40)))
def test_cagrad_closed_form_is_at_least_as_good_as_the_previous_descent(i, gram, c):
    b, sqrt_phi = gram.mean(1), c * float(gram.mean().clamp_min(0).sqrt())
    objective = lambda w: float(w @ b + sqrt_phi * (w @ gram @ w).clamp_min(0).sqrt())
    new = cagrad_inner(gram, c)
    old = torch.from_numpy(old_cagrad_inner(gram.numpy(), c))
    assert new.min() >= 0 and float(new.sum()) == pytest.approx(1, abs=1e-9)
    assert objective(new) <= objective(old) + 1e-9 * float(gram.diagonal().max())


def test_cagrad_weights_barely_move_on_a_real_sized_problem():
    """Full-rank case: the old descent was within ~1e-3 of the optimum; the applied weights alpha agree to 1e-2."""
    grads = torch.randn(3, 200, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads[1] -= 0.8 * grads[0]                                          # a conflict
    strategy = get_weighting("cagrad", c=0.5)
    strategy.setup(list("abc"))
    strategy.combine(grads.float(), torch.ones(3))
    gram = grads @ grads.T
    w = old_cagrad_inner(gram.numpy(), 0.5)
    sqrt_phi = 0.5 * np.sqrt(gram.mean().item())
    old_alpha = 3 * (np.full(3, 1 / 3) + sqrt_phi / np.sqrt(w @ gram.numpy() @ w) * w) / 1.25
    assert np.allclose(strategy.last_weights.double().numpy(), old_alpha, atol=1e-2)


@pytest.mark.parametrize("i, gram", list(grams()))
def test_nash_fixed_newton_steps_reach_the_previous_solution(i, gram):
    normalised = gram / torch.linalg.matrix_norm(gram) + 1e-8 * torch.eye(gram.shape[0], dtype=gram.dtype)
    new, old = nash_weights(normalised), old_nash_weights(normalised)
    assert (new > 0).all()
    residual = (normalised @ new - 1 / new).abs().max()
    assert residual <= 1e-9 * float((normalised.abs() @ new).max())   # converged within the fixed 30 steps
    assert torch.allclose(new, old, rtol=1e-6)


def test_imtl_ridge_solve_matches_the_previous_least_squares():
    """Independent gradients (the case of real networks: P >> T): the same weights to 1e-6 (measured: 2e-10).
    Dependent ones (more tasks than dimensions, duplicates, opposites: many least-squares solutions): finite."""
    compared = 0
    for _, gram in grams():
        new, old = IMTL().gram_weights(gram, torch.ones(gram.shape[0], dtype=gram.dtype)), old_imtl(gram)
        assert torch.isfinite(new).all()
        unit = gram / gram.diagonal().sqrt()[:, None] / gram.diagonal().sqrt()[None, :]   # IMTL ignores sizes
        if torch.linalg.matrix_rank(unit) == gram.shape[0] and torch.linalg.cond(unit) < 1e6:
            assert torch.allclose(new, old, rtol=1e-6, atol=1e-9)
            compared += 1
    assert compared >= 10

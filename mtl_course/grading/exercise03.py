"""Exercise 03 — loss weighting: uncertainty weighting's objective, DWA, GLS, and a Pareto front."""

from __future__ import annotations

import torch

from mtl_course.grading.questions import close, question
from mtl_course.weighting import get_weighting


@question("03.q1", "Weights exp(-s_t) times the losses, plus the log-variances themselves: "
                   "(torch.exp(-log_vars) * losses).sum() + log_vars.sum(). Keep it differentiable.")
def uncertainty_objective(fn) -> tuple[bool, str]:
    losses = torch.tensor([0.5, 2.0, 40.0])
    log_vars = torch.tensor([0.0, 1.0, -0.5], requires_grad=True)
    value = fn(losses, log_vars)
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        return False, f"expected a scalar tensor, got {type(value).__name__} {getattr(value, 'shape', '')}"
    fixed = log_vars.detach()
    expected = float((torch.exp(-fixed) * losses).sum() + fixed.sum())
    ok, detail = close(float(value.detach()), expected)
    if not ok:
        return False, f"objective: {detail}"
    if not value.requires_grad:
        return False, "the result does not depend on log_vars through autograd (did you call .item() or detach?)"
    (grad,) = torch.autograd.grad(value, log_vars)
    return close(grad, 1 - torch.exp(-log_vars.detach()) * losses)


@question("03.q2", "ratio = last / before_last; weights = T * softmax(ratio / temperature).")
def dwa_weights(fn) -> tuple[bool, str]:
    for last, before in (([0.5, 1.0, 2.0], [1.0, 1.0, 1.0]), ([0.9, 0.3], [1.0, 0.6])):
        strategy = get_weighting("dwa")
        strategy.setup([str(i) for i in range(len(last))])
        strategy.epoch_end(torch.tensor(before))
        strategy.epoch_end(torch.tensor(last))
        expected = strategy(torch.ones(len(last)))
        ok, detail = close(fn(torch.tensor(last), torch.tensor(before), 2.0), expected)
        if not ok:
            return False, f"for last={last}, before_last={before}: {detail}"
    return True, "matches DWA on 2 cases (weights sum to T)"


@question("03.q3", "Geometric mean of the losses = exp(mean(log L)); weights = geometric mean / L.")
def gls_weights(fn) -> tuple[bool, str]:
    for losses in ([0.5, 2.0, 8.0], [3.0, 3.0], [0.01, 100.0, 1.0, 4.0]):
        ok, detail = close(fn(torch.tensor(losses)), get_weighting("gls")(torch.tensor(losses)))
        if not ok:
            return False, f"for losses {losses}: {detail}"
    return True, "matches GLS on 3 cases"


@question("03.q4", "Point i is dominated if another point j has error_j <= error_i and score_j >= score_i, "
                   "with at least one strictly better. Return the indices of the others, sorted.")
def pareto_front(fn) -> tuple[bool, str]:
    cases = [
        ([(0.5, 0.70), (0.6, 0.90), (0.8, 0.95), (0.7, 0.85), (0.9, 0.94)], [0, 1, 2]),
        ([(1.0, 0.5)], [0]),
        ([(0.4, 0.8), (0.4, 0.8), (0.5, 0.9)], [0, 1, 2]),       # equal points do not dominate each other
        ([(0.3, 0.9), (0.4, 0.9), (0.3, 0.8)], [0]),              # better on one, equal on the other
    ]
    for points, expected in cases:
        got = sorted(int(i) for i in fn(list(points)))
        if got != expected:
            return False, f"for points (error, score) {points}: got {got}, expected {expected}"
    return True, f"correct on {len(cases)} cases, ties included"

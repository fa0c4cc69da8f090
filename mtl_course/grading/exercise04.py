"""Exercise 04 — gradient conflict: pairwise cosines, PCGrad for two tasks, MGDA's closed form for two."""

from __future__ import annotations

import torch

from mtl_course.grading.questions import close, question
from mtl_course.train.gradients import pairwise_cosines
from mtl_course.weighting import get_weighting


def _cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(4)
    random = torch.randn(2, 6, generator=generator, dtype=torch.float64)
    return [(torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([-1.0, 1.0], dtype=torch.float64)),
            (torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([2.0, 1.0], dtype=torch.float64)),
            (random[0], -0.5 * random[0] + 0.2 * random[1])]


@question("04.q1", "Divide each row of G by its norm, then multiply the result by its transpose.")
def cosine_matrix(fn) -> tuple[bool, str]:
    grads = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [-2.0, 0.0, 1.0]])
    value = fn(grads)
    if tuple(value.shape) != (3, 3):
        return False, f"expected a [3, 3] matrix for 3 tasks, got shape {tuple(value.shape)}"
    return close(value, pairwise_cosines(grads))


@question("04.q2", "If g1 . g2 < 0: g1' = g1 - (g1.g2)/|g2|^2 g2 and g2' = g2 - (g2.g1)/|g1|^2 g1 (both from the "
                   "originals); otherwise keep them. Return g1' + g2'.")
def pcgrad_two(fn) -> tuple[bool, str]:
    for g1, g2 in _cases():
        strategy = get_weighting("pcgrad")
        strategy.setup(["a", "b"])
        expected = strategy.combine(torch.stack([g1, g2]).float(), torch.ones(2)).double()
        ok, detail = close(fn(g1.clone(), g2.clone()), expected, tolerance=1e-5)
        if not ok:
            return False, f"for g1={g1.tolist()}, g2={g2.tolist()}: {detail}"
    return True, "matches PCGrad on 3 pairs (conflicting and not)"


@question("04.q3", "gamma = ((g2 - g1) . g2) / |g1 - g2|^2, clipped to [0, 1]; d = gamma g1 + (1 - gamma) g2.")
def mgda_two(fn) -> tuple[bool, str]:
    for g1, g2 in [*_cases(), (torch.tensor([1.0, 0.0], dtype=torch.float64),
                               torch.tensor([3.0, 0.0], dtype=torch.float64))]:
        strategy = get_weighting("mgda")
        strategy.setup(["a", "b"])
        expected = strategy.combine(torch.stack([g1, g2]).float(), torch.ones(2)).double() / 2   # paper's scale
        ok, detail = close(fn(g1.clone(), g2.clone()), expected, tolerance=1e-5)
        if not ok:
            return False, f"for g1={g1.tolist()}, g2={g2.tolist()}: {detail}"
    return True, "the min-norm point on 4 pairs, the clipped case included"

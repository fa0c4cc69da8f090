"""Weighting strategies: hand-computed cases, invariants that can fail, and independent re-computations."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mtl_course.weighting import GRADIENT_BASED, LOSS_BASED, WEIGHTINGS, get_weighting

NAMES = ["a", "b", "c"]


def make(name: str, tasks=NAMES, **hparams):
    strategy = get_weighting(name, **hparams)
    strategy.setup(list(tasks))
    return strategy


def random_grads(n_tasks: int, dim: int = 20, seed: int = 0) -> torch.Tensor:
    return torch.randn(n_tasks, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).float()


def simplex_grid(n: int, steps: int):
    for combo in itertools.product(range(steps + 1), repeat=n - 1):
        if sum(combo) <= steps:
            yield torch.tensor([*combo, steps - sum(combo)], dtype=torch.float64) / steps


def test_registry_names_and_errors():
    assert set(LOSS_BASED) == {"equal", "fixed", "uncertainty", "dwa", "gradnorm", "rlw", "gls"}
    assert set(GRADIENT_BASED) == {"pcgrad", "mgda", "cagrad", "imtl", "nash", "upgrad", "aligned"}
    assert set(WEIGHTINGS) == set(LOSS_BASED) | set(GRADIENT_BASED)
    with pytest.raises(ValueError, match=r"unknown weighting 'pcgard'; did you mean 'pcgrad'\? Valid names are"):
        get_weighting("pcgard")
    with pytest.raises(TypeError, match="weighting 'cagrad'.*unexpected keyword argument 'alpha'"):
        get_weighting("cagrad", alpha=0.4)
    with pytest.raises(ValueError, match="needs the per-task gradients"):
        make("gradnorm")(torch.ones(3))
    with pytest.raises(ValueError, match=r"shape \[T, P\] with T = 3 tasks, got \(2, 5\)"):
        make("mgda").combine(torch.ones(2, 5), torch.ones(3))


# ---- loss-based -----------------------------------------------------------------------------------------

def test_uncertainty_starts_equal_and_its_objective_has_the_kendall_minimum():
    strategy = make("uncertainty")
    losses = torch.tensor([0.5, 2.0, 4.0])
    assert torch.allclose(strategy(losses), torch.ones(3))
    # d/ds [exp(-s) L + s] = 1 - exp(-s) L: zero at exp(-s) = 1 / L
    objective = (strategy.weights(losses) * losses).sum() + strategy.regularizer()
    objective.backward()
    assert torch.allclose(strategy.log_vars.grad, 1 - losses)
    with torch.no_grad():
        strategy.log_vars.copy_(losses.log())
    assert torch.allclose(strategy(losses), 1 / losses)


def test_dwa_is_one_for_two_epochs_then_softmax_of_loss_ratios():
    strategy = make("dwa")
    losses = torch.ones(3)
    strategy.epoch_end(torch.tensor([1.0, 1.0, 1.0]))
    assert torch.equal(strategy(losses), torch.ones(3))
    strategy.epoch_end(torch.tensor([0.5, 1.0, 2.0]))      # ratios 0.5, 1, 2
    expected = [3 * math.exp(r / 2) / sum(math.exp(q / 2) for q in (0.5, 1, 2)) for r in (0.5, 1, 2)]
    assert strategy(losses).tolist() == pytest.approx(expected)
    assert float(strategy(losses).sum()) == pytest.approx(3)


def test_rlw_sums_to_t_and_repeats_with_its_seed():
    first = make("rlw", seed=3)(torch.ones(3))
    again = make("rlw", seed=3)(torch.ones(3))
    other = make("rlw", seed=4)(torch.ones(3))
    assert float(first.sum()) == pytest.approx(3) and (first > 0).all()
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_gls_weights_are_the_gradient_of_the_geometric_mean_and_ignore_units():
    losses = torch.tensor([0.5, 2.0, 8.0], requires_grad=True)
    geometric = losses.prod() ** (1 / 3)
    (gradient,) = torch.autograd.grad(geometric, losses)
    weights = make("gls")(losses.detach())
    assert torch.allclose(weights, 3 * gradient)                # T times the paper's gradient
    scaled = make("gls")(losses.detach() * torch.tensor([1.0, 100.0, 1.0]))
    # contributions w_t * L_t keep their proportions when one loss changes units
    ratio = (scaled * losses.detach() * torch.tensor([1.0, 100.0, 1.0])) / (weights * losses.detach())
    assert torch.allclose(ratio, ratio[0].expand(3))


def test_gradnorm_moves_weight_towards_the_task_with_the_smaller_gradient():
    strategy = make("gradnorm", tasks=["a", "b"], lr=0.05)
    grads = torch.stack([torch.full((10,), 0.1), torch.full((10,), 1.0)])    # task a's gradient is 10x smaller
    for _ in range(20):
        weights = strategy(torch.tensor([1.0, 1.0]), grads)
    assert weights[0] > 1.2 > 0.8 > weights[1]
    assert float(weights.sum()) == pytest.approx(2)


# ---- gradient-based: invariants and re-computations --------------------------------------------------------

@pytest.mark.parametrize("name", sorted(GRADIENT_BASED))
def test_combine_returns_last_weights_times_g(name):
    grads = random_grads(3)
    strategy = make(name)
    direction = strategy.combine(grads, torch.ones(3))
    assert direction.shape == (20,)
    assert torch.allclose(direction, strategy.last_weights @ grads, atol=1e-5)


@pytest.mark.parametrize("name", sorted(set(GRADIENT_BASED) - {"nash"}))
def test_orthogonal_unit_gradients_give_equal_weighting(name):
    grads = torch.eye(3, 6)                                     # no conflict, equal sizes
    strategy = make(name)
    # CAGrad adds sqrt(phi)/||g_w|| g_w = c g0 to g0, then divides by 1 + c^2 (official rescale=1)
    scale = (1 + 0.5) / (1 + 0.5 ** 2) if name == "cagrad" else 1.0
    assert torch.allclose(strategy.combine(grads, torch.ones(3)), scale * grads.sum(0), atol=1e-6)


@pytest.mark.parametrize("n_tasks", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_mgda_is_the_min_norm_point_of_the_hull(n_tasks, seed):
    grads = random_grads(n_tasks, dim=4, seed=seed).double()
    strategy = make("mgda", tasks=NAMES[:n_tasks])
    strategy.combine(grads.float(), torch.ones(n_tasks))
    alpha = strategy.last_weights.double() / n_tasks            # back to the simplex (paper's scale)
    assert float(alpha.sum()) == pytest.approx(1) and (alpha >= -1e-9).all()
    found = float((alpha @ grads).norm() ** 2)
    brute = min(float((a @ grads).norm() ** 2) for a in simplex_grid(n_tasks, 200))
    assert found <= brute * (1 + 1e-6) + 1e-9
    assert found == pytest.approx(brute, rel=2e-2, abs=1e-4)


def test_mgda_two_tasks_matches_the_closed_form():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-0.5, 2.0])
    gamma = float(((g2 - g1) @ g2) / ((g1 - g2) @ (g1 - g2)))       # weight of g1, clipped to [0, 1]
    strategy = make("mgda", tasks=["a", "b"])
    strategy.combine(torch.stack([g1, g2]), torch.ones(2))
    assert strategy.last_weights.tolist() == pytest.approx([2 * gamma, 2 * (1 - gamma)], abs=1e-6)


def pcgrad_by_vectors(grads: torch.Tensor, seed: int) -> torch.Tensor:
    """The paper's algorithm on the vectors themselves, with the same random orders."""
    generator = torch.Generator().manual_seed(seed)
    projected = []
    for i in range(len(grads)):
        g = grads[i].clone()
        for j in torch.randperm(len(grads), generator=generator).tolist():
            if j != i and g @ grads[j] < 0:
                g = g - (g @ grads[j]) / (grads[j] @ grads[j]) * grads[j]
        projected.append(g)
    return torch.stack(projected).sum(0)


@pytest.mark.parametrize("seed", range(3))
def test_pcgrad_matches_the_vector_algorithm(seed):
    grads = random_grads(4, seed=seed).double()
    strategy = make("pcgrad", tasks=list("abcd"), seed=seed)
    assert torch.allclose(strategy.combine(grads.float(), torch.ones(4)).double(), pcgrad_by_vectors(grads, seed),
                          atol=1e-5)


def test_pcgrad_two_conflicting_tasks_leave_no_negative_inner_product():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])           # g1 . g2 = -1 < 0
    strategy = make("pcgrad", tasks=["a", "b"])
    strategy.combine(torch.stack([g1, g2]), torch.ones(2))
    # g1 projected: g1 - (-1/2) g2 = [0.5, 0.5] (orthogonal to g2); g2 projected: g2 + g1 = [0, 1] (orthogonal to g1)
    alpha = strategy.last_weights
    assert alpha.tolist() == pytest.approx([2.0, 1.5])
    assert float((g1 + 0.5 * g2) @ g2) == pytest.approx(0) and float((g2 + g1) @ g1) == pytest.approx(0)


@pytest.mark.parametrize("seed", range(6))
def test_upgrad_never_conflicts_with_any_task(seed):
    grads = random_grads(4, dim=5, seed=seed)
    grads[1] = -grads[0] + 0.1 * grads[1]                        # a strong conflict
    direction = make("upgrad", tasks=list("abcd")).combine(grads, torch.ones(4))
    assert ((grads @ direction) >= -1e-5).all()


def test_upgrad_projection_is_the_nearest_point_of_the_dual_cone():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    strategy = make("upgrad", tasks=["a", "b"])
    strategy.combine(torch.stack([g1, g2]), torch.ones(2))
    # dual cone {x: x1 >= 0, x2 >= x1}: g1 projects to (0.5, 0.5), g2 to (0, 1); sum (0.5, 1.5)
    assert torch.allclose(strategy.last_weights @ torch.stack([g1, g2]), torch.tensor([0.5, 1.5]), atol=1e-6)


def test_cagrad_with_c_zero_is_equal_weighting():
    grads = random_grads(3)
    direction = make("cagrad", c=0.0).combine(grads, torch.ones(3))
    assert torch.allclose(direction, grads.sum(0), atol=1e-5)    # T x the paper's mean gradient


@pytest.mark.parametrize("seed", range(3))
def test_cagrad_inner_problem_matches_brute_force(seed):
    grads = random_grads(3, dim=4, seed=seed).double()
    c = 0.5
    g0 = grads.mean(0)
    sqrt_phi = c * g0.norm()
    objective = lambda w: float(w @ grads @ g0 + sqrt_phi * (w @ grads).norm())
    best = min(simplex_grid(3, 150), key=objective)
    d_best = (g0 + sqrt_phi / (best @ grads).norm() * (best @ grads)) / (1 + c ** 2)
    direction = make("cagrad", c=c).combine(grads.float(), torch.ones(3)).double()
    assert torch.allclose(direction / 3, d_best, atol=2e-2 * float(d_best.norm()))


@pytest.mark.parametrize("seed", range(4))
def test_imtl_direction_has_equal_projections_on_unit_gradients(seed):
    grads = random_grads(3, seed=seed) * torch.tensor([[1.0], [10.0], [0.1]])
    direction = make("imtl").combine(grads, torch.ones(3))
    projections = (grads / grads.norm(dim=1, keepdim=True)) @ direction
    assert torch.allclose(projections, projections[0].expand(3), rtol=1e-4)


def test_imtl_matches_libmtl_vector_formula():
    grads = random_grads(3, seed=7).double()
    unit = grads / grads.norm(dim=1, keepdim=True)
    D, U = grads[0:1] - grads[1:], unit[0:1] - unit[1:]
    rest = grads[0] @ U.T @ torch.linalg.inv(D @ U.T)
    expected = torch.cat([(1 - rest.sum()).unsqueeze(0), rest])
    strategy = make("imtl")
    strategy.combine(grads.float(), torch.ones(3))
    assert torch.allclose(strategy.last_weights.double(), 3 * expected, atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_nash_solves_its_bargaining_equation(seed):
    grads = random_grads(3, seed=seed)
    strategy = make("nash")
    strategy.combine(grads, torch.ones(3))
    gram = (grads @ grads.T).double()
    normalised = gram / torch.linalg.matrix_norm(gram)
    alpha = strategy.last_weights.double()
    assert (alpha > 0).all()
    assert torch.allclose(normalised @ alpha, 1 / alpha, rtol=1e-4)


def test_aligned_gradients_are_orthogonal_with_equal_norms():
    grads = random_grads(3, seed=1).double()
    gram = grads @ grads.T
    eigenvalues, vectors = torch.linalg.eigh(gram)
    balance = eigenvalues.min().sqrt() * vectors @ torch.diag(eigenvalues.rsqrt()) @ vectors.T
    aligned = balance @ grads
    assert torch.allclose(aligned @ aligned.T, eigenvalues.min() * torch.eye(3, dtype=torch.float64), atol=1e-8)
    strategy = make("aligned")
    strategy.combine(grads.float(), torch.ones(3))
    assert torch.allclose(strategy.last_weights.double(), balance.sum(0), atol=1e-5)

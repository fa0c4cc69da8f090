"""The tiny base every weighting strategy builds on.

Two kinds of strategy, one convention:
- **Loss-based** (`Weighting`): `weights(losses) -> w[T]`; the trainer minimises sum_t w_t * L_t
  (+ `regularizer()`, for strategies with learnable weights such as uncertainty weighting).
- **Gradient-based** (`GradientWeighting`): `combine(G[T, P], losses[T]) -> d[P]`, a pure function of the
  per-task gradients G of the *shared* parameters (or of the shared features, see `fit(grad_level=...)`).
  The trainer uses d as the shared gradient; each task head keeps its own task's gradient.
  Every gradient method in this package returns d = alpha @ G, with alpha computed from the Gram matrix
  G G^T (T x T: cheap), so `last_weights` = alpha are the weights the method really applied.

Conventions (the same as LibMTL):
- The objective is a **sum**: equal weighting means w_t = 1 (not 1/T), so d = sum_t g_t. Methods whose
  paper produces a mean or a convex combination (weights summing to 1) are scaled by T here; each
  module's docstring says its scale relative to the paper. With Adam the scale of d barely matters.
- A strategy is data in, data out: the trainer does the backward passes and the optimiser step.
- Stochastic strategies take a `seed`, so runs repeat.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from mtl_course.device import reads_are_free


class Weighting:
    """Loss-based weighting: maps the per-task losses of a step to per-task weights."""

    name: str = ""
    needs_grads: bool = False        # True: `weights` also needs G [T, P], the per-task shared gradients
    lr: float | None = None          # learning rate of `parameters()`; None: the model's

    def __init__(self) -> None:
        self.task_names: list[str] = []
        self.last_weights: Tensor | None = None

    def setup(self, task_names: Sequence[str], device: torch.device | str = "cpu") -> None:
        """Called once by the trainer before training, with the task names in loss order."""
        self.task_names = list(task_names)

    def parameters(self) -> list[Tensor]:
        """Learnable weighting parameters, trained by the model's optimiser (none by default)."""
        return []

    def weights(self, losses: Tensor, grads: Tensor | None = None) -> Tensor:
        """losses: float [T] (detached); grads: float [T, P] when `needs_grads` -> weights float [T]."""
        raise NotImplementedError

    def regularizer(self) -> Tensor | float:
        """A term added to the objective (learnable-weight strategies); 0 by default."""
        return 0.0

    def epoch_end(self, epoch_losses: Tensor) -> None:
        """Called by the trainer after each epoch with that epoch's mean loss per task [T]."""

    def combine(self, grads: Tensor, losses: Tensor, gram: Tensor | None = None) -> Tensor:
        """grads: float [T, P] per-task gradients of the shared part; losses: [T] -> d float [P].
        For a loss-based strategy, d = w @ G: exactly the shared gradient of sum_t w_t L_t."""
        return self(losses, grads).detach() @ grads

    def head_weights(self) -> Tensor:
        """[T]: what each head's own task gradient is multiplied by in the step that set last_weights.
        Loss-based: the task weights (that is the gradient of sum_t w_t L_t)."""
        return self.last_weights

    def __call__(self, losses: Tensor, grads: Tensor | None = None) -> Tensor:
        if self.needs_grads and grads is None:
            raise ValueError(f"{type(self).__name__} needs the per-task gradients; call it as "
                             f"weighting(losses, grads) with grads of shape [T, P] (fit does this)")
        weights = self.weights(losses, grads) if self.needs_grads else self.weights(losses)
        if weights.shape != losses.shape:
            raise ValueError(f"{type(self).__name__}.weights returned shape {tuple(weights.shape)} for "
                             f"{losses.numel()} task losses; it must return one weight per task")
        self.last_weights = weights.detach()
        return weights

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GradientWeighting(Weighting):
    """Gradient-based: replaces the shared gradient by d = alpha @ G, alpha = gram_weights(G G^T, losses)."""

    needs_grads = True

    def gram_weights(self, gram: Tensor, losses: Tensor) -> Tensor:
        """gram: float64 [T, T] = G G^T, on G's device; losses: float64 [T] -> alpha float64 [T], same device.
        Written without Python branches on the values, so that nothing is read back to the host (no sync)."""
        raise NotImplementedError

    def combine(self, grads: Tensor, losses: Tensor, gram: Tensor | None = None) -> Tensor:
        """grads: float [T, P] per-task gradients of the shared part; losses: [T] -> d float [P].
        gram: G G^T [T, T] if the caller has it already (it is the expensive part for large P)."""
        check_grads(grads, losses)
        gram = gram if gram is not None else grads.float() @ grads.float().T
        where = solver_device(grads.device)
        alpha = self.gram_weights(gram.to(where, torch.float64), losses.detach().to(where, torch.float64))
        self.last_weights = alpha.to(grads.device, torch.float32)
        return self.last_weights @ grads.float()

    def head_weights(self) -> Tensor:
        """[T] ones: gradient methods replace only the shared gradient, each head keeps its own task's."""
        return torch.ones_like(self.last_weights)

    def weights(self, losses: Tensor, grads: Tensor | None = None) -> Tensor:
        """The weights alpha this strategy gives the gradients G (what `combine` applies)."""
        if grads is None:
            raise ValueError(f"{type(self).__name__} needs the per-task gradients G [T, P]")
        self.combine(grads, losses)
        return self.last_weights

    def __call__(self, losses: Tensor, grads: Tensor | None = None) -> Tensor:
        return self.weights(losses, grads)


def check_grads(grads: Tensor, losses: Tensor) -> None:
    if grads.dim() != 2 or grads.shape[0] != losses.numel():
        raise ValueError(f"expected per-task gradients of shape [T, P] with T = {losses.numel()} tasks, "
                         f"got {tuple(grads.shape)}")
    if reads_are_free(grads) and not bool(torch.isfinite(grads).all()):   # on a GPU: fit's FiniteCheck
        raise FloatingPointError("a task gradient contains NaN or inf; lower the learning rate")


def solver_device(device: torch.device) -> torch.device:
    """Where the T x T problems are solved in float64: on G's device (no copy to the host), except on Apple's MPS,
    which has no float64."""
    return torch.device("cpu") if device.type == "mps" else device


def as_tensor(weights: Sequence[float] | Tensor, like: Tensor) -> Tensor:
    return torch.as_tensor(weights, dtype=like.dtype, device=like.device)

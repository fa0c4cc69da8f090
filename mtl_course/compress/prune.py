"""Pruning with PyTorch's own tool (torch.nn.utils.prune): set the smallest weights of every convolution to zero.

    prune_model(model, amount=0.5)                       # half of each convolution's weights, smallest |w| first
    prune_model(model, amount=0.25, structured=True)     # a quarter of each convolution's output channels (L2 norm)
    sparsity(model)                                      # the fraction of convolution weights that are zero

The pruning is made permanent (prune.remove): the zeros are ordinary weights afterwards, so the model saves,
exports and trains as before (training would let them grow back). Zeros alone make a model neither smaller on disk
nor faster on a CPU: dense kernels multiply zeros as fast as any other number. They pay off with a sparse format
or, for structured pruning, once the zeroed channels are cut out of the tensors.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import prune


def convolutions(model: nn.Module) -> list[nn.Conv2d]:
    """Every nn.Conv2d of the model, in module order."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def prune_model(model: nn.Module, amount: float, structured: bool = False) -> nn.Module:
    """Zero the fraction `amount` of each convolution's weights (unstructured: the smallest |w|; structured: the
    output channels of smallest L2 norm), in place and permanently; returns the model."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount < 1:
        raise ValueError(f"amount is the fraction of weights to remove, in [0, 1); got {amount!r}")
    layers = convolutions(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d to prune")
    for conv in layers:
        if structured:
            prune.ln_structured(conv, "weight", amount=float(amount), n=2, dim=0)
        else:
            prune.l1_unstructured(conv, "weight", amount=float(amount))
        prune.remove(conv, "weight")
    return model


def sparsity(model: nn.Module) -> float:
    """The fraction of the convolutions' weights that are exactly zero."""
    layers = convolutions(model)
    total = sum(conv.weight.numel() for conv in layers)
    return sum(int((conv.weight == 0).sum()) for conv in layers) / total if total else 0.0

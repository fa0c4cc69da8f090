"""Pruning with PyTorch's own tool (torch.nn.utils.prune): set the smallest weights of every convolution to zero.

    prune_model(model, amount=0.5)                       # half of each convolution's weights, smallest |w| first
    prune_model(model, amount=0.5, scope="global")       # half of all convolution weights, smallest |w| network-wide
    prune_model(model, amount=0.25, structured=True)     # a quarter of each convolution's output channels (L2 norm)
    sparsity(model)                                      # the fraction of convolution weights that are zero

The pruning is made permanent (prune.remove): the zeros are ordinary weights afterwards, so the model saves,
exports and trains as before (training would let them grow back). Zeros alone make a model neither smaller on disk
nor faster on a CPU: dense kernels multiply zeros as fast as any other number. They pay off with a sparse format
or, for structured pruning, once the zeroed channels are cut out of the tensors.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune


def convolutions(model: nn.Module) -> list[nn.Conv2d]:
    """Every nn.Conv2d of the model, in module order."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def prune_model(model: nn.Module, amount: float, structured: bool = False, scope: str = "layer") -> nn.Module:
    """Zero the fraction `amount` of the convolutions' weights, in place and permanently; returns the model.

    scope="layer": `amount` of each convolution's weights (unstructured: the smallest |w|; structured=True: the
    output channels of smallest L2 norm). scope="global" (unstructured only): `amount` of all the convolutions'
    weights together, the smallest |w| of the whole network, so a layer with many small weights loses more of
    them than a small layer whose every weight matters (a head's 16 weights, the first layer's 432).
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount < 1:
        raise ValueError(f"amount is the fraction of weights to remove, in [0, 1); got {amount!r}")
    if scope not in ("layer", "global"):
        raise ValueError(f"unknown scope {scope!r}; valid scopes are 'layer' and 'global'")
    if scope == "global" and structured:
        raise ValueError("structured pruning removes channels layer by layer: use scope='layer' with structured=True")
    layers = convolutions(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d to prune")
    layouts = [conv.weight.dim() == 4 and conv.weight.is_contiguous(memory_format=torch.channels_last)
               for conv in layers]
    with torch.no_grad():                   # fit leaves weights channels-last; torch's pruning needs them contiguous
        for conv in layers:
            conv.weight.data = conv.weight.data.contiguous()
    if scope == "global":
        prune.global_unstructured([(conv, "weight") for conv in layers], pruning_method=prune.L1Unstructured,
                                  amount=float(amount))
    for conv in layers:
        if scope == "layer" and structured:
            prune.ln_structured(conv, "weight", amount=float(amount), n=2, dim=0)
        elif scope == "layer":
            prune.l1_unstructured(conv, "weight", amount=float(amount))
        prune.remove(conv, "weight")
    with torch.no_grad():
        for conv, channels_last in zip(layers, layouts):
            if channels_last:
                conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)
    return model


def sparsity(model: nn.Module) -> float:
    """The fraction of the convolutions' weights that are exactly zero."""
    layers = convolutions(model)
    total = sum(conv.weight.numel() for conv in layers)
    return sum(int((conv.weight == 0).sum()) for conv in layers) / total if total else 0.0

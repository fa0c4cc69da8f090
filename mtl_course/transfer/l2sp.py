"""L2-SP (Li, Grandvalet & Davoine, ICML 2018): while fine-tuning, stay close to the pretrained weights.

    penalty = L2SP(model, alpha=1e-2, beta=1e-4)
    fit(model, tasks, train, penalty=penalty)          # fit adds penalty(model) to the objective
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtl_course.models import MultiTaskNet


class L2SP:
    """penalty = alpha / 2 * ||w_pre - w_pre^0||^2  +  beta / 2 * ||w_new||^2

    w_pre^0 are the pretrained weights the model was built with (build_model records them in
    model.pretrained_state: the encoder, and the decoder when the backbone has one); every other
    trainable parameter (the new heads) is new and gets plain weight decay.
    """

    def __init__(self, model: MultiTaskNet, alpha: float = 0.01, beta: float = 1e-4) -> None:
        if not isinstance(model, MultiTaskNet) or not model.pretrained_state:
            raise ValueError("L2SP needs the pretrained weights to stay close to, but this model has none recorded: "
                             "build it with build_model(tasks, encoder=..., pretrained='course' or 'imagenet')")
        self.alpha, self.beta = float(alpha), float(beta)
        self.reference = {name: value.detach().clone() for name, value in model.pretrained_state.items()}

    def __call__(self, model: nn.Module) -> Tensor:
        close, new = 0.0, 0.0
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if name in self.reference:
                if self.reference[name].device != p.device:           # once, on the first call
                    self.reference[name] = self.reference[name].to(p.device)
                close = close + (p - self.reference[name]).square().sum()
            else:
                new = new + p.square().sum()
        return torch.as_tensor(self.alpha / 2 * close + self.beta / 2 * new)

    def __repr__(self) -> str:
        return f"L2SP(alpha={self.alpha}, beta={self.beta})"

"""MultiTaskNet: one trunk that every task reads, one head per task — the picture of hard parameter sharing.

    model = MultiTaskNet(Trunk(UNetEncoder(), decoder), {"semseg": DenseHead(16, 6), "depth": DenseHead(16, 1)})
    outputs = model(images)        # {"semseg": [B, 6, H, W], "depth": [B, 1, H, W]}

Everything the trainer (mtl_course.train) and the transfer helpers (mtl_course.transfer) use from a model
is declared in this class, and nowhere else:

    trunk                 the shared part; trunk(x) -> what every head reads (Features for a Trunk)
    heads                 {task: module}; heads[task](shared) -> that task's output
    shared_parameters()   the trunk's trainable parameters: what gradient methods combine
    shared_features       True when trunk(x) is features that every head reads (hard sharing, attention): then
                          fit(grad_level="features") takes the task gradients there. False for cross-stitch,
                          where each head reads its own task's features (see models/cross_stitch.py)
    task_parameters()     every other trainable parameter (each serves one task)
    input_key             the data key the trunk reads: "image" (or "features", see transfer.cache)
    config                how build_model made it (save_checkpoint rebuilds it from this)
    pretrained_state      {parameter name: tensor}, the pretrained weights it started from (for L2-SP)
    backbone_info         what a loaded backbone file says about itself (models.pretrained.describe)
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import Tensor, nn


class MultiTaskNet(nn.Module):
    """Hard parameter sharing: one trunk that every task reads, one head per task.

    The other architectures keep this frame: the trunk is whatever is shared (sharing="none": nothing, an
    nn.Identity; cross-stitch: the task encoders and their mixing units), the heads the rest."""

    def __init__(self, trunk: nn.Module, heads: Mapping[str, nn.Module], input_key: str = "image",
                 config: Mapping[str, Any] | None = None, shared_features: bool = True) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict(heads)
        self.input_key = input_key
        self.shared_features = shared_features
        self.config: dict[str, Any] = dict(config or {})
        self.pretrained_state: dict[str, Tensor] = {}
        self.backbone_info: dict[str, Any] = {}

    def forward(self, x: Tensor) -> dict[str, Tensor]:      # [B, 3, H, W] -> {task: output}
        shared = self.trunk(x)                               # the features every task reads
        return {name: head(shared) for name, head in self.heads.items()}

    @property
    def task_names(self) -> list[str]:
        return list(self.heads)

    def shared_parameters(self) -> list[nn.Parameter]:
        """The trainable parameters of the trunk: every task's loss reaches them."""
        return [p for p in self.trunk.parameters() if p.requires_grad]

    def task_parameters(self) -> list[nn.Parameter]:
        """Every other trainable parameter, in model.parameters() order: each belongs to one task's head."""
        shared = {id(p) for p in self.trunk.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in shared]

    def train(self, mode: bool = True) -> MultiTaskNet:
        """model.train() / model.eval(), with one rule: a BatchNorm layer whose weights are all frozen also keeps
        its running mean and variance frozen (it stays in eval mode). Otherwise they would drift towards the
        new data while its scale and shift stay fixed, silently changing what the frozen features mean."""
        super().train(mode)
        for module in self.modules():
            own = list(module.parameters(recurse=False))
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and own and not any(p.requires_grad for p in own):
                module.eval()
        return self


class OwnNetwork(nn.Module):
    """sharing="none": a task's 'head' is a whole single-task network that reads the image itself."""

    def __init__(self, net: MultiTaskNet, task: str) -> None:
        super().__init__()
        self.net = net
        self.task = task

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[self.task]

"""Cross-stitch networks (Misra, Shrivastava, Gupta & Hebert, CVPR 2016): one network per task, and after every
encoder stage a learned mix of the tasks' feature maps.

    mixed_t = sum_s alpha[t, s] * own_s          # own_s: task s's stage output, [B, C, h, w]; alpha [T, T]

One alpha matrix [T, T] per encoder stage (one weight per pair of tasks and stage, as in the paper; not one per
channel). It starts near the identity, alpha[t, t] = 0.9 and alpha[t, s] = 0.1 / (T - 1), so each task begins as its
own network listening a little to the others; training moves it. The mixed map is both what the task's next
stage reads and what its decoder reads as the skip connection of that level.

    trunk = CrossStitchTrunk({"semseg": UNetEncoder(), "depth": UNetEncoder()})
    features = trunk(images)            # TaskFeatures: features.by_task["depth"] is depth's Features
    trunk.mixing_weights()              # [stages] of float [T, T], rows = the task that reads

What is shared here: nothing is read by every task. Each head reads its own task's mixed pyramid, but every task's
loss reaches every encoder through the off-diagonal alphas. So MultiTaskNet.shared_parameters() is the whole trunk
(the T encoders and the cross-stitch units) and fit(grad_level="params") compares and combines the task gradients
of all of them. grad_level="features" is refused: there is no feature map that every head reads (see
MultiTaskNet.shared_features), so per-task feature gradients would never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor, nn

from mtl_course.models.trunk import Features, as_image_batch

SELF_WEIGHT = 0.9        # alpha[t, t] at the start; the other (1 - SELF_WEIGHT) is split over the other tasks


class CrossStitchUnit(nn.Module):
    """T maps [B, C, h, w] -> T maps of the same shape: out[t] = sum_s alpha[t, s] * maps[s]; alpha float [T, T]."""

    def __init__(self, num_tasks: int, self_weight: float = SELF_WEIGHT) -> None:
        super().__init__()
        other = (1 - self_weight) / (num_tasks - 1) if num_tasks > 1 else 0.0
        alpha = torch.full((num_tasks, num_tasks), other)
        self.alpha = nn.Parameter(alpha.fill_diagonal_(self_weight if num_tasks > 1 else 1.0))

    def forward(self, maps: list[Tensor]) -> list[Tensor]:
        return [sum(weight * own for weight, own in zip(row, maps)) for row in self.alpha]


@dataclass
class TaskFeatures:
    """What a cross-stitch trunk hands to the heads: each task's own Features (its mixed pyramid), by task name."""

    by_task: dict[str, Features]

    def tensors(self) -> list[Tensor]:
        """Every tensor in it, task by task (each task's Features.tensors())."""
        return [t for features in self.by_task.values() for t in features.tensors()]

    def detached(self) -> TaskFeatures:
        return TaskFeatures({name: features.detached() for name, features in self.by_task.items()})


class CrossStitchTrunk(nn.Module):
    """One encoder per task, their stage outputs mixed by a CrossStitchUnit after every stage.

    Input: float [B, 3, H, W] -> TaskFeatures; by_task[t].pyramid[i] = the mixed map [B, C_i, H / s_i, W / s_i]
    """

    def __init__(self, encoders: Mapping[str, nn.Module], self_weight: float = SELF_WEIGHT) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.tasks = list(encoders)
        stages = len(next(iter(self.encoders.values())).channels)
        self.units = nn.ModuleList(CrossStitchUnit(len(self.tasks), self_weight) for _ in range(stages))

    def forward(self, x: Tensor) -> TaskFeatures:
        x = as_image_batch(x)
        size = (x.shape[-2], x.shape[-1])
        inputs = [x] * len(self.tasks)                    # every task's first stage reads the image
        pyramids: list[list[Tensor]] = [[] for _ in self.tasks]
        for i, unit in enumerate(self.units):
            own = [encoder.run_stage(i, inp) for encoder, inp in zip(self.encoders.values(), inputs)]
            inputs = unit(own)                            # each task's mix of all the tasks' stage-i maps
            for pyramid, mixed in zip(pyramids, inputs):
                pyramid.append(mixed)
        return TaskFeatures({name: Features(size, pyramid) for name, pyramid in zip(self.tasks, pyramids)})

    def mixing_weights(self) -> list[Tensor]:
        """[stages] of float [T, T] (a detached copy, on the CPU): row t = how task t mixes the tasks' maps at that
        stage, rows and columns in the order of self.tasks."""
        return [unit.alpha.detach().cpu().clone() for unit in self.units]


class OwnFeatures(nn.Module):
    """A task's head in a cross-stitch network: it reads its own task's Features out of the TaskFeatures."""

    def __init__(self, task: str, head: nn.Module) -> None:
        super().__init__()
        self.task = task
        self.head = head

    def forward(self, shared: TaskFeatures) -> Tensor:
        return self.head(shared.by_task[self.task])

"""Fixed weighting: hand-chosen constant weights, e.g. Fixed({"semseg": 1.0, "depth": 0.1})."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from mtl_course.weighting.base import Weighting, as_tensor


class Fixed(Weighting):
    name = "fixed"

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__()
        if not isinstance(weights, Mapping) or not weights:
            raise ValueError("fixed weighting needs a dict {task name: weight}, e.g. {'semseg': 1, 'depth': 0.1}")
        if any(float(w) < 0 for w in weights.values()):
            raise ValueError(f"fixed weights must be >= 0, got {dict(weights)}")
        self.fixed = {name: float(w) for name, w in weights.items()}
        self.current: Tensor | None = None              # the weights as a tensor on the losses' device
        self.current_values: list[float] = []           # ... made from these

    def setup(self, task_names: Sequence[str], device: torch.device | str = "cpu") -> None:
        missing, unknown = set(task_names) - set(self.fixed), set(self.fixed) - set(task_names)
        if missing or unknown:
            raise ValueError(f"fixed weights are for {sorted(self.fixed)} but the tasks are {list(task_names)}"
                             + (f"; missing {sorted(missing)}" if missing else "")
                             + (f"; unknown {sorted(unknown)}" if unknown else ""))
        super().setup(task_names)
        self.current = None

    def weights(self, losses: Tensor) -> Tensor:
        values = [self.fixed[name] for name in self.task_names]
        if self.current is None or self.current.device != losses.device or self.current.dtype != losses.dtype \
                or self.current_values != values:           # one copy to the device, not one a step
            self.current, self.current_values = as_tensor(values, losses), values
        return self.current

    def __repr__(self) -> str:
        return f"Fixed({self.fixed})"

"""Stop training at the first NaN or inf loss (or task gradient), before it changes the model.

One optimiser step with NaN gradients ruins every weight, so the trainer checks each step's losses first.
The simple check reads a value back from the device:

    if not torch.isfinite(losses).all():  raise FloatingPointError(...)     # bool(...) waits for the device

On a CPU that costs nothing. On a GPU it is a *host sync*: the CPU stops queueing kernels until the GPU has
finished everything queued so far, once per step. FiniteCheck does the simple check unless the optimiser can
skip an update by itself. Fused optimisers can (torch.optim.Adam / AdamW / SGD with fused=True — fit's default
on a CUDA GPU): their kernel skips the whole update, moments and step count included, when
`optimizer.found_inf` holds 1 (the mechanism torch.amp.GradScaler uses). Then the check stays on the device:

    bad |= ~isfinite(losses)                [T] on the device: the tasks that went bad (sticky)
    optimizer.found_inf = bad.any()         this update and every later one is skipped
    every `every` steps and at each epoch's end: one host read -> FloatingPointError naming the task and the step

Because `bad` is sticky, no update from the first bad step on reaches the weights: when the error is raised
the parameters are exactly as they were before that step, as with the simple check. (BatchNorm's running
statistics are not parameters: the forward passes of the skipped steps still update them.)
Under torchrun each process sees only its own losses, but DistributedDataParallel averages every process's
gradients into all of them; so the verdict is combined over the processes (an all-reduce on the device, no
host read) and they skip, or stop, together.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.distributed as dist
from torch import Tensor

FUSED = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)   # fused kernels that honour found_inf


def skips_on_device(optimizer: torch.optim.Optimizer | None) -> bool:
    """Whether `optimizer` skips an update on the device when its found_inf is 1 (a fused Adam, AdamW or SGD)."""
    return isinstance(optimizer, FUSED) and bool(optimizer.defaults.get("fused"))


class FiniteCheck:
    """Call it in the step, before optimizer.step(): check(losses [T]) or check(losses, gram [T, T]).

    deferred: keep the check on the device (only for an optimiser that `skips_on_device`); None: whenever it can.
    every: steps between host reads when deferred (fit also calls raise_if_bad at the end of each epoch).
    across_processes: combine the verdict over the processes of a torchrun job (fit sets it under torchrun).
    A FloatingPointError it raises has `.step`: the number of the bad call (1 = the first step checked).
    """

    def __init__(self, task_names: Sequence[str], optimizer: torch.optim.Optimizer | None = None,
                 deferred: bool | None = None, every: int = 50, across_processes: bool = False) -> None:
        if deferred and not skips_on_device(optimizer):
            raise ValueError("a deferred check needs an optimiser that skips updates on the device: "
                             "torch.optim.Adam, AdamW or SGD with fused=True")
        self.names, self.optimizer, self.every, self.across = list(task_names), optimizer, every, across_processes
        self.deferred = skips_on_device(optimizer) if deferred is None else deferred
        self.calls = 0
        self.bad: Tensor | None = None        # deferred: [T] bool, the tasks that went bad at the first bad step
        self.first: Tensor | None = None     # deferred: the number of the first bad call
        self.values: Tensor | None = None    # deferred: that call's losses

    def __call__(self, losses: Tensor, gram: Tensor | None = None) -> None:
        """losses: [T] this step's task losses; gram: [T, T] G G^T of the task gradients, if the step has them
        (its diagonal ||g_t||^2 is finite exactly when task t's gradient is)."""
        if self.deferred and self.calls and self.calls % self.every == 0:
            self.raise_if_bad()                                 # every `every` steps, before the next one
        self.calls += 1
        losses = losses.detach().float()
        finite = torch.isfinite(losses)
        if gram is not None:
            finite = finite & torch.isfinite(gram.detach().diagonal())
        if self.across:
            bad = (~finite).to(losses.dtype)
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)          # bad on any process: bad on all of them
            finite = bad == 0
        if not self.deferred:
            if not bool(finite.all()):                          # the host sync, every step
                raise self.error(finite.cpu(), losses.cpu(), self.calls)
            return
        if self.bad is None:
            self.bad = torch.zeros_like(finite)
            self.first = torch.zeros((), dtype=torch.int64, device=losses.device)
            self.values = torch.zeros_like(losses)
        new = ~finite & ~self.bad.any()                          # the first bad step only: keep what it saw
        self.values = torch.where(new, losses, self.values)
        self.first = torch.where(new.any(), self.calls, self.first)
        self.bad = self.bad | new
        self.optimizer.found_inf = self.bad.any().float()        # the fused kernel skips the update

    def raise_if_bad(self) -> None:
        """Deferred: one host read, after a step; a FloatingPointError if some step since the start went bad."""
        if self.deferred and self.bad is not None and bool(self.bad.any()):
            raise self.error(~self.bad.cpu(), self.values.cpu(), int(self.first), skipped=self.calls - int(self.first))

    def error(self, finite: Tensor, losses: Tensor, step: int, skipped: int | None = None) -> FloatingPointError:
        t = int((~finite).nonzero()[0])
        name, value = self.names[t], float(losses[t])
        what = (f"the {name} loss became {value}" if value != value or abs(value) == float("inf") else
                f"the gradient of the {name} loss became NaN or inf (the loss was {value:.4g})")
        how = ("training stopped before this step changed the model" if skipped is None else
               f"the fused optimiser skipped that update and the {skipped} after it, so the weights are as they "
               f"were before that step")
        err = FloatingPointError(f"{what}; {how}. Try a smaller learning rate and check the {name} targets for "
                                 f"NaN or inf.")
        err.step = step
        return err

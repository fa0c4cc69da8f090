"""fit and evaluate: the one training loop of the course.

Each step:  outputs = model(images)
            losses  = [task.loss(outputs[task], targets[task]) for each task]     # [T]
            weights = weighting(losses)                                         # [T]
            (weights * losses).sum().backward(); optimizer.step()

Gradient-based strategies (and `track_conflict=True`) first take each task's gradient of the shared part,
G [T, P] (see gradients.py); the strategy turns G into the shared gradient d, each head keeps its own.

Images and weights use the channels_last memory layout (faster convolutions on CPUs and GPUs alike);
on a CUDA GPU the forward pass also runs under bf16 autocast. Losses and metrics are always float32.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from mtl_course.device import get_device
from mtl_course.tasks import Task
from mtl_course.train.batches import iterate, steps_per_epoch, to_tensors
from mtl_course.train.gradients import LEVELS, SharedGradients, pairwise_cosines
from mtl_course.train.history import History
from mtl_course.weighting import GradientWeighting, Weighting, get_weighting


def _check_tasks(model: nn.Module, tasks: Sequence[Task]) -> list[Task]:
    tasks = [tasks] if isinstance(tasks, Task) else list(tasks)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise TypeError("tasks must be a non-empty list of Task objects from mtl_course.tasks.get_task")
    outputs = getattr(model, "task_names", None)
    if outputs is not None:
        missing = [t.name for t in tasks if t.name not in outputs]
        if missing:
            raise ValueError(f"the model has no output for task(s) {missing}; it predicts {list(outputs)}. "
                             f"Build it with build_model(tasks) for the same tasks.")
    return tasks


def _data_keys(model: nn.Module, tasks: Sequence[Task]) -> list[str]:
    """The data keys a batch needs: the model's input ("image", or model.input_key) and each task's target."""
    return [_input_key(model), *dict.fromkeys(t.target for t in tasks)]


def _input_key(model: nn.Module) -> str:
    return getattr(model, "input_key", "image")


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _inputs(batch: Mapping[str, Tensor], key: str) -> Tensor:
    x = batch[key]
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _check_finite(losses: Tensor, tasks: Sequence[Task], epoch: int, step: int, lr: float) -> None:
    if bool(torch.isfinite(losses).all()):
        return
    bad = [(t.name, float(v)) for t, v in zip(tasks, losses.detach().cpu()) if not torch.isfinite(v)]
    name, value = bad[0]
    raise FloatingPointError(f"the {name} loss became {value} at epoch {epoch}, step {step}; training stopped "
                             f"before this step changed the model. Try a smaller learning rate (lr={lr}) and "
                             f"check the {name} targets for NaN or inf.")


def fit(model: nn.Module, tasks: Sequence[Task], train: Any, val: Any = None, epochs: int = 5,
        lr: float = 1e-3, weighting: str | Mapping[str, float] | Weighting = "equal",
        device: str | torch.device | None = None, seed: int = 0, progress: bool | None = None,
        batch_size: int = 32, weight_decay: float = 0.0,
        optimizer: torch.optim.Optimizer | None = None, grad_level: str = "params",
        track_conflict: bool | int = False, penalty: Callable[[nn.Module], Tensor] | None = None) -> History:
    """Train `model` on `tasks` and return a History.

    Args:
        model:      from build_model (any module returning {task name: output} works)
        tasks:      the tasks to train; each task's loss is weighted by `weighting`
        train, val: SyntheticScenes, a dict of stacked tensors, or a dataset of dict samples
        epochs, lr, batch_size, weight_decay: the usual; the optimiser is AdamW unless given
        weighting:  a name from mtl_course.weighting.WEIGHTINGS, a {task: weight} dict, or an object
        device:     None picks cuda > mps > cpu (see get_device)
        seed:       seeds the shuffling and any randomness, so two CPU runs give identical results
        progress:   show a progress bar (a widget in Jupyter, text in a terminal); None: yes, unless the
                    environment variable MTL_COURSE_PROGRESS is "0" (the test suite sets it)
        grad_level: where per-task gradients are taken when a strategy needs them: "params" (the shared
                    parameters; T backward passes) or "features" (the shared features, MGDA-UB style;
                    about one backward pass)
        track_conflict: also take per-task gradients for loss-based strategies, to record the pairwise
                    gradient cosines in history.grad_cosine (recorded anyway for gradient strategies);
                    an integer k does it every k-th step only (each such step costs T backward passes)
        penalty:    penalty(model) -> scalar added to the objective, e.g. mtl_course.transfer.L2SP(model)
    """
    tasks = _check_tasks(model, tasks)
    if progress is None:
        progress = os.environ.get("MTL_COURSE_PROGRESS", "1") != "0"
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0 or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"need lr > 0 and an integer batch_size >= 1, got lr={lr!r}, batch_size={batch_size!r}")
    device = get_device(str(device) if device is not None else None)
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    weighting = get_weighting(weighting)
    if grad_level not in LEVELS:
        raise ValueError(f"unknown grad_level {grad_level!r}; valid values are {list(LEVELS)}")

    keys = _data_keys(model, tasks)
    train_resident = to_tensors(train, keys)
    val_resident = to_tensors(val, keys) if val is not None else None
    for split in (train_resident, val_resident):
        for task in tasks if split is not None else []:
            task.check_target(split[task.target])
    train_resident = {k: v.to(device) for k, v in train_resident.items()} if train_resident else None
    n_train = len(train_resident[keys[0]]) if train_resident else len(train)

    model.to(device, memory_format=torch.channels_last)
    weighting.setup([t.name for t in tasks], device)
    track_every = 1 if weighting.needs_grads else int(track_conflict)
    if track_every < 0:
        raise ValueError(f"track_conflict must be True, False or a positive step interval, got {track_conflict!r}")
    per_task = SharedGradients(model, grad_level) if track_every else None
    if optimizer is None:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                      weight_decay=weight_decay)
    if weighting.parameters():              # learnable task weights (e.g. uncertainty) train with the model
        optimizer.add_param_group({"params": weighting.parameters(), "weight_decay": 0.0,
                                   "lr": weighting.lr if weighting.lr is not None else lr})
    history = History(primary={t.name: t.primary_metric for t in tasks})
    pairs = [(i, j) for i in range(len(tasks)) for j in range(i + 1, len(tasks))]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    steps = steps_per_epoch(n_train, batch_size)
    # refresh at most once a second: each refresh is a message to Jupyter, and a flood of them can stall
    # notebook runners (nbval waits only 5 s for a cell's remaining output)
    bar = tqdm(total=epochs * steps, disable=not progress, desc="fit", unit="batch", leave=True, mininterval=1.0)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        loss_sum = torch.zeros(len(tasks), device=device)
        weight_sum = torch.zeros(len(tasks), device=device)
        cosine_sum = torch.zeros(len(tasks), len(tasks), device=device)
        tracked = 0
        for step, batch in enumerate(iterate(train, train_resident, keys, batch_size, device, shuffle=True,
                                             generator=shuffle, drop_last=True), start=1):
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device):
                use_grads = per_task is not None and (step - 1) % track_every == 0
                x = _inputs(batch, keys[0])
                outputs = per_task.forward(x) if use_grads else model(x)
            losses = torch.stack([task.loss(outputs[task.name], batch[task.target]) for task in tasks])
            _check_finite(losses, tasks, epoch, step, lr)
            if not use_grads:                                    # the plain step: one backward pass
                task_weights = weighting(losses.detach())
                objective = (task_weights * losses).sum() + weighting.regularizer()
                (objective + penalty(model) if penalty is not None else objective).backward()
            else:
                grads = per_task.task_gradients(losses)
                gram = grads @ grads.T                           # [T, T], computed once per step
                cosine_sum += pairwise_cosines(gram=gram)
                tracked += 1
                if isinstance(weighting, GradientWeighting):
                    direction = weighting.combine(grads, losses.detach(), gram=gram)
                    task_weights = weighting.last_weights
                    per_task.apply(direction, torch.ones_like(task_weights))
                else:
                    task_weights = weighting(losses.detach(), grads) if weighting.needs_grads \
                        else weighting(losses.detach())
                    per_task.apply(task_weights.detach() @ grads, task_weights.detach())
                    if weighting.parameters():        # learnable weights: their own (tiny) backward
                        ((task_weights * losses.detach()).sum() + weighting.regularizer()).backward()
                if penalty is not None:
                    penalty(model).backward()
            optimizer.step()
            loss_sum += losses.detach()
            weight_sum += task_weights.detach()
            bar.update()
        history.train_seconds.append(time.perf_counter() - start)
        epoch_losses = loss_sum / step
        weighting.epoch_end(epoch_losses)
        history.epochs.append(epoch)
        for task, loss, weight in zip(tasks, epoch_losses.tolist(), (weight_sum / step).tolist()):
            history.train_loss.setdefault(task.name, []).append(loss)
            history.weights.setdefault(task.name, []).append(weight)
        if tracked:
            cosines = (cosine_sum / tracked).tolist()
            for i, j in pairs:
                history.grad_cosine.setdefault(f"{tasks[i].name}/{tasks[j].name}", []).append(cosines[i][j])
        if val is not None:
            scores = evaluate(model, tasks, val_resident if val_resident is not None else val, device=device)
            for name, metrics in scores.items():
                for metric, value in metrics.items():
                    history.val_metrics.setdefault(name, {}).setdefault(metric, []).append(value)
        history.epoch_seconds.append(time.perf_counter() - start)
        bar.set_postfix({t.name: f"{history.train_loss[t.name][-1]:.3g}" for t in tasks})
    bar.close()
    history.steps_per_epoch = steps
    if device.type == "cuda":
        history.peak_memory_mb = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return history


@torch.no_grad()
def evaluate(model: nn.Module, tasks: Sequence[Task], data: Any, batch_size: int = 128,
             device: str | torch.device | None = None) -> dict[str, dict[str, float]]:
    """Scores of `model` on `data`: {task name: {metric: value}}, accumulated exactly over batches."""
    tasks = _check_tasks(model, tasks)
    device = get_device(str(device) if device is not None else None)
    keys = _data_keys(model, tasks)
    resident = to_tensors(data, keys)
    states = {t.name: t.metric_state() for t in tasks}
    was_training = model.training
    model.to(device, memory_format=torch.channels_last).eval()
    try:
        for batch in iterate(data, resident, keys, batch_size, device):
            batch = {k: v.to(device) for k, v in batch.items()}
            with _autocast(device):
                outputs = model(_inputs(batch, keys[0]))
            for task in tasks:
                states[task.name].update(outputs[task.name].float(), batch[task.target])
    finally:
        model.train(was_training)
    return {name: state.compute() for name, state in states.items()}

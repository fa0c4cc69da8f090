"""fit and evaluate: epochs, bookkeeping, evaluation and progress around the step in step.py.

Each step (see step.py):  outputs = model(images); losses [T]; weights [T]; (weights * losses).sum().backward()
Gradient-based strategies (and `track_conflict`) take the gradient step instead: G [T, P], d = combine(G, L).
Images and weights use the channels_last memory layout (faster convolutions on CPUs and GPUs alike).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from mtl_course.device import get_device
from mtl_course.models import MultiTaskNet
from mtl_course.models.trunk import check_image_values
from mtl_course.tasks import Task, balanced_class_weights
from mtl_course.tasks.semseg import median_frequency_weights
from mtl_course.train import distributed
from mtl_course.train.batches import Batches, named, to_tensors
from mtl_course.train.finite import FiniteCheck
from mtl_course.train.gradients import LEVELS, pairwise_cosines
from mtl_course.train.history import History
from mtl_course.train.resume import resume, save_training_state, weighting_state
from mtl_course.train.step import autocast, check_level, gradient_step, model_inputs, plain_step
from mtl_course.weighting import Weighting, get_weighting


def fit(model: MultiTaskNet, tasks: Sequence[Task], train: Any, val: Any = None, epochs: int = 5,
        lr: float = 1e-3, weighting: str | Mapping[str, float] | Weighting = "equal",
        device: str | torch.device | None = None, seed: int = 0, progress: bool | None = None,
        batch_size: int = 32, weight_decay: float = 0.0,
        optimizer: torch.optim.Optimizer | None = None, grad_level: str = "params",
        track_conflict: bool | int = False, penalty: Callable[[nn.Module], Tensor] | None = None,
        schedule: str | None = None, keep_best: str | None = None, workers: int = 0,
        checkpoint: str | Path | None = None, keys: Sequence[str] | None = None, compile: bool = False) -> History:
    """Train `model` on `tasks` and return a History.

    Args:
        model:      a MultiTaskNet (from build_model, or MultiTaskNet(trunk, heads) of your own)
        tasks:      the tasks to train; each task's loss is weighted by `weighting` (a consistency pseudo-task,
                    get_task("consistency", ...), is one more loss, on two of the model's outputs)
        train, val: SyntheticScenes, a dict of stacked tensors, or a dataset of dict samples (e.g. load_dataset's)
        epochs, lr, batch_size, weight_decay: the usual; the optimiser is AdamW unless given. Under torchrun,
                    batch_size is per process (one step sees batch_size * processes samples)
        weighting:  a name from mtl_course.weighting.WEIGHTINGS, a {task: weight} dict, or an object
        device:     None picks cuda > mps > cpu (see get_device)
        seed:       seeds the shuffling and any randomness, so two CPU runs give identical results
        progress:   show a progress bar (a widget in Jupyter, text in a terminal); None: yes, unless the
                    environment variable MTL_COURSE_PROGRESS is "0" (the test suite sets it)
        grad_level: where per-task gradients are taken when a strategy needs them: "params" (the trunk's
                    parameters; T backward passes) or "features" (the trunk's output, MGDA-UB style; not for
                    cross-stitch models, where no features are read by every head)
        track_conflict: also take per-task gradients for loss-based strategies, to record the pairwise
                    gradient cosines in history.grad_cosine (recorded anyway for gradient strategies);
                    an integer k does it every k-th step only (each such step costs T backward passes)
        penalty:    penalty(model) -> scalar added to the objective, e.g. mtl_course.transfer.L2SP(model)
        schedule:   None (a constant learning rate) or "cosine" (from lr down to 0 over all steps, step by step)
        keep_best:  a task name: at the end, load the weights of the epoch with that task's best validation
                    score (its primary metric; needs val); history.best_epoch says which epoch that was
        workers:    DataLoader worker processes for a dataset that is read sample by sample (too big to stack,
                    or with random transforms); 0 reads in this process. Stacked data needs none.
        checkpoint: a file: written at the end of every epoch; if it exists when fit starts, training resumes
                    after its last epoch (see mtl_course.train.resume)
        keys:       for data whose samples are tuples (a TensorDataset, a dataset of (image, mask) pairs): the name
                    of each part, e.g. keys=("image", "semseg")

        compile:    run the forward pass of the plain step through torch.compile (the first steps are slow while it
                    compiles; then faster, mostly on a GPU). Gradient strategies' steps stay eager.

    Under torchrun (several processes) fit trains with DistributedDataParallel: see mtl_course.train.distributed.
    """
    tasks = check_tasks(model, tasks, need_model=True)
    check_options(epochs, lr, batch_size, grad_level, track_conflict)
    if schedule not in (None, "cosine"):
        raise ValueError(f"unknown schedule {schedule!r}; valid values are None (constant) and 'cosine'")
    if keep_best is not None and keep_best not in [t.name for t in tasks]:
        raise ValueError(f"keep_best names the task whose validation score picks the epoch; {keep_best!r} is not "
                         f"one of {[t.name for t in tasks]}")
    if keep_best is not None and val is None:
        raise ValueError("keep_best picks the epoch by its validation score: pass val data too")
    if not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0 (DataLoader worker processes), got {workers!r}")
    device = get_device(device)
    rank, world = distributed.init_from_env(device)
    device = distributed.local_device(device)
    progress = os.environ.get("MTL_COURSE_PROGRESS", "1") != "0" if progress is None else progress
    torch.manual_seed(seed + rank)               # random transforms: other draws on each process (rank 0: seed)
    shuffle = torch.Generator().manual_seed(seed)   # the same permutation on every process
    weighting = get_weighting(weighting)
    train, val = named(train, keys), named(val, keys)
    needed = data_keys(model, tasks)
    train_resident, val_data = resident(train, tasks, needed, device), resident(val, tasks, needed)
    balance_classes(tasks, train, train_resident)
    model.to(device, memory_format=torch.channels_last)
    weighting.setup([t.name for t in tasks], device)
    track_every = 1 if weighting.needs_grads else int(track_conflict)     # steps between gradient steps (0: never)
    if track_every and not model.shared_parameters():
        raise ValueError("the model shares no trainable parameters (sharing='none', or a frozen trunk), so there are "
                         "no per-task shared gradients to compare or combine; build it with build_model(tasks, "
                         "sharing='hard'), or unfreeze part of the trunk")
    if track_every and world > 1:
        raise ValueError(f"{weighting!r} (or track_conflict) takes each task's gradient separately, which "
                         f"DistributedDataParallel does not average over processes; under torchrun use a loss-based "
                         f"strategy (equal, fixed weights, uncertainty, dwa, rlw, gls), or train on one process")
    if track_every:
        check_level(model, grad_level)
    optimizer = with_weighting(optimizer or torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                                              lr=lr, weight_decay=weight_decay,
                                                              fused=device.type == "cuda"), weighting, lr)
    check = FiniteCheck([t.name for t in tasks], optimizer, across_processes=world > 1)   # fused: stays on the device
    untrained_heads = any(name not in {n for t in tasks for n in t.reads} for name in model.task_names)
    forward = None if world == 1 else DistributedDataParallel(model, find_unused_parameters=untrained_heads)
    if compile:
        forward = CompiledForward(torch.compile(forward or model))
    distributed.average_gradients_of(weighting.parameters())
    history = History(primary={t.name: t.primary_metric for t in tasks})
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batches = Batches(train, train_resident, needed, batch_size, device, shuffle=True, generator=shuffle,
                      drop_last=True, workers=workers, rank=rank, world=world, persistent=True, seed=seed)
    steps = len(batches)
    if steps == 0:
        raise ValueError(f"no training batch: {len(train)} samples for {world} processes; each process needs at "
                         f"least one sample")
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps) if schedule else None
    best_state: dict[str, Tensor] | None = None
    first_epoch = 1
    if checkpoint is not None and Path(checkpoint).is_file():
        first_epoch, history, best_state = resume(checkpoint, model, optimizer, scheduler, weighting, shuffle,
                                                  epochs, schedule, rank)
        best_state = best_state if keep_best is not None else None
    # at most one refresh a second: a flood of widget messages can stall notebook runners (nbval waits 5 s)
    bar = tqdm(total=max(0, epochs - first_epoch + 1) * steps, disable=not progress or rank != 0, desc="fit",
               unit="batch", leave=True, mininterval=1.0)
    try:
        for epoch in range(first_epoch, epochs + 1):
            start = time.perf_counter()
            model.train()
            loss_sum, weight_sum = torch.zeros(len(tasks), device=device), torch.zeros(len(tasks), device=device)
            cosine_sum, tracked = torch.zeros(len(tasks), len(tasks), device=device), 0
            for step, batch in enumerate(batches, start=1):
                try:
                    if track_every and (step - 1) % track_every == 0:
                        losses, weights, gram = gradient_step(model, tasks, batch, weighting, optimizer, grad_level,
                                                              penalty, check)
                        cosine_sum, tracked = cosine_sum + pairwise_cosines(gram=gram), tracked + 1
                    else:
                        losses, weights = plain_step(model, tasks, batch, weighting, optimizer, penalty, forward,
                                                     check)
                    if step == steps:
                        check.raise_if_bad()             # deferred checks: at least once an epoch
                except FloatingPointError as err:
                    bad = getattr(err, "step", (epoch - first_epoch) * steps + step)   # calls of check since the start
                    raise FloatingPointError(f"at epoch {first_epoch + (bad - 1) // steps}, step {(bad - 1) % steps + 1}"
                                             f" (lr={lr}): {err}") from None
                loss_sum, weight_sum = loss_sum + losses, weight_sum + weights
                if scheduler is not None:
                    scheduler.step()
                bar.update()
            if device.type == "cuda":
                torch.cuda.synchronize(device)   # the epoch's kernels have run: the one host sync an epoch
            train_seconds = time.perf_counter() - start
            loss_sum, weight_sum = distributed.average(loss_sum), distributed.average(weight_sum)
            weighting.epoch_end(loss_sum / step)
            scores = (evaluate(model, tasks, val if val_data is None else val_data, device=device, workers=workers)
                      if val is not None else {})
            history.record_epoch([t.name for t in tasks], loss_sum / step, weight_sum / step,
                                 cosine_sum / tracked if tracked else None, scores,
                                 train_seconds, time.perf_counter() - start)
            bar.set_postfix({t.name: f"{history.train_loss[t.name][-1]:.3g}" for t in tasks})
            if keep_best is not None and is_best(history, keep_best, next(t for t in tasks if t.name == keep_best)):
                history.best_epoch = epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint is not None and rank == 0:
                save_training_state(checkpoint, {
                    "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "weighting": weighting_state(weighting), "shuffle": shuffle.get_state(),
                    "torch_rng": torch.get_rng_state(), "history": history.to_dict(), "best_state": best_state,
                    "epochs": epochs, "schedule": schedule})
    finally:
        batches.close()                          # the DataLoader's workers, if any, stop here (even on an error)
        bar.close()
        if hasattr(optimizer, "found_inf"):
            del optimizer.found_inf              # a fused optimiser passed in skips no later step by our flag
    if best_state is not None:
        model.load_state_dict(best_state)
    history.steps_per_epoch = steps
    if device.type == "cuda":
        history.peak_memory_mb = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return history


@torch.no_grad()
def evaluate(model: MultiTaskNet, tasks: Sequence[Task], data: Any, batch_size: int = 128,
             device: str | torch.device | None = None, workers: int = 0, per_class: bool = False,
             keys: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Scores of `model` on `data`: {task name: {metric: value}}, accumulated exactly over batches (and over the
    processes under torchrun: each process scores every N-th sample, then the statistics are combined — so under
    torchrun every process must call it).
    per_class: also each class's score, e.g. scores["semseg"]["iou"] = [IoU of class 0, 1, ...] (NaN: a class in
    neither the targets nor the predictions). keys: the names of the parts of tuple samples (see fit)."""
    tasks = check_tasks(model, tasks)
    device = get_device(device)
    data = named(data, keys)
    needed = data_keys(model, tasks)
    stacked = to_tensors(data, needed)
    states = {t.name: t.metric_state() for t in tasks}
    was_training = model.training
    model.to(device, memory_format=torch.channels_last).eval()
    rank, world = distributed.world()
    try:
        for batch in Batches(data, stacked, needed, batch_size, device, workers=workers, rank=rank, world=world):
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast(device):
                outputs = model(model_inputs(model, batch))
            for task in tasks:
                output, target = task.inputs(outputs, batch)
                states[task.name].update(output.float(), target)
    finally:
        model.train(was_training)
    distributed.merge_states(states)
    scores = {name: state.compute() for name, state in states.items()}
    for task in tasks if per_class else []:
        scores[task.name].update(task.per_class(states[task.name].total))
    return scores


def balance_classes(tasks: Sequence[Task], train: Any, stacked: dict[str, Tensor] | None) -> None:
    """For each task built with class_weights="balanced": compute them from the training masks, once, in place
    (a dataset read sample by sample is counted sample by sample, without touching the global random generator)."""
    for task in tasks:
        if getattr(task, "class_weights", None) != "balanced":
            continue
        if stacked is not None:
            task.class_weights = balanced_class_weights(stacked[task.target].cpu(), task.num_classes,
                                                        task.ignore_index)
            continue
        counts = torch.zeros(task.num_classes, dtype=torch.int64)
        with torch.random.fork_rng(devices=[]):
            for i in range(len(train)):
                mask = train[i][task.target]
                counts += torch.bincount(mask[mask != task.ignore_index].flatten(), minlength=task.num_classes)
        task.class_weights = median_frequency_weights(counts)


class CompiledForward(nn.Module):
    """Calls a torch.compile'd model; turns a compiler failure into an error that says what to do."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Any:
        try:
            return self.model(x)
        except Exception as err:                   # torch._dynamo / inductor errors have no public base class
            if "torch._dynamo" not in type(err).__module__ and "torch._inductor" not in type(err).__module__:
                raise
            raise RuntimeError(f"torch.compile could not compile the model here ({type(err).__name__}: "
                               f"{str(err).splitlines()[0][:200]}). Train without it: fit(..., compile=False); "
                               f"on a CPU, torch.compile also needs a C++ compiler (gcc or clang).") from err


def with_weighting(optimizer: torch.optim.Optimizer, weighting: Weighting, lr: float) -> torch.optim.Optimizer:
    """The optimiser, also training the strategy's learnable task weights (e.g. uncertainty's), if it has any."""
    if weighting.parameters():
        optimizer.add_param_group({"params": weighting.parameters(), "weight_decay": 0.0,
                                   "lr": weighting.lr if weighting.lr is not None else lr})
    return optimizer


def check_tasks(model: nn.Module, tasks: Sequence[Task] | Task, need_model: bool = False) -> list[Task]:
    """tasks as a list, after checking that they are Tasks and that `model` is a MultiTaskNet predicting each."""
    tasks = [tasks] if isinstance(tasks, Task) else list(tasks)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise TypeError("tasks must be a non-empty list of Task objects from mtl_course.tasks.get_task")
    if not isinstance(model, MultiTaskNet):
        raise TypeError(f"fit and evaluate train a MultiTaskNet (from build_model, or MultiTaskNet(trunk, heads) of "
                        f"your own modules), got {type(model).__name__}")
    missing = [name for t in tasks for name in t.reads if name not in model.task_names]
    if missing:
        raise ValueError(f"the model has no output for task(s) {missing}; it predicts {model.task_names}. "
                         f"Build it with build_model(tasks) for the same tasks.")
    return tasks


def is_best(history: History, name: str, task: Task) -> bool:
    """Whether the last epoch has task `name`'s best validation score so far (ties: the earlier epoch)."""
    values = history.val_metrics[name][task.primary_metric]
    last, earlier = values[-1], [v for v in values[:-1] if v == v]          # v == v: not NaN
    if last != last:
        return False
    return not earlier or (last > max(earlier) if task.higher_is_better else last < min(earlier))


def check_options(epochs: Any, lr: Any, batch_size: Any, grad_level: str, track_conflict: Any) -> None:
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0 or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"need lr > 0 and an integer batch_size >= 1, got lr={lr!r}, batch_size={batch_size!r}")
    if grad_level not in LEVELS:
        raise ValueError(f"unknown grad_level {grad_level!r}; valid values are {list(LEVELS)}")
    if int(track_conflict) < 0:
        raise ValueError(f"track_conflict must be True, False or a positive step interval, got {track_conflict!r}")


def data_keys(model: MultiTaskNet, tasks: Sequence[Task]) -> list[str]:
    """The data keys a batch needs: the model's input (model.input_key) and each task's target (a consistency task
    has none)."""
    return [model.input_key, *dict.fromkeys(t.target for t in tasks if t.target is not None)]


def resident(data: Any, tasks: Sequence[Task], keys: Sequence[str],
             device: torch.device | None = None) -> dict[str, Tensor] | None:
    """The split stacked in memory (on `device` if given) after checking every task's targets and the images'
    values; None if it does not fit (then it is read batch by batch) or if data is None."""
    stacked = to_tensors(data, keys) if data is not None else None
    if stacked is None and data is not None:
        with torch.random.fork_rng(devices=[]):                    # random transforms: leave the generator as it was
            checked = {k: v[None] for k, v in data[0].items()}
    else:
        checked = stacked
    for task in tasks if checked is not None else []:              # streamed data: its first sample is checked
        if task.target is not None:
            task.check_target(checked[task.target])
    images = checked[keys[0]] if checked is not None else None     # keys[0]: the model's input
    if images is not None and images.is_floating_point() and images.dim() == 4 and images.shape[1] == 3:
        check_image_values(images)                                   # once, whatever the device
    return {k: v.to(device) for k, v in stacked.items()} if stacked is not None and device is not None else stacked

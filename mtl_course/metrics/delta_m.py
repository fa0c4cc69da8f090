"""Delta_m: one number for "how much did multi-task learning help, on average over tasks"."""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence


class ScoredTask(Protocol):
    """What delta_m reads of a task (mtl_course.tasks.Task has these)."""

    name: str
    primary_metric: str
    higher_is_better: bool


def delta_m(mtl_scores: Mapping[str, Mapping[str, float]], stl_scores: Mapping[str, Mapping[str, float]],
            tasks: Sequence[ScoredTask]) -> float:
    """Average relative change of each task's primary metric against its single-task baseline, in %.

        delta_m = (100 / T) * sum_t (-1)^{l_t} * (M_mtl,t - M_stl,t) / M_stl,t

    with l_t = 1 when lower is better for task t (Maninis et al. 2019; Vandenhende et al. 2021).
    Positive means the multi-task model is better on average.

    Inputs:
        mtl_scores, stl_scores: {task name: {metric name: value}}, e.g. from `evaluate`
        tasks: the tasks to average over; each task's `primary_metric` and `higher_is_better` are used
    """
    if not tasks:
        raise ValueError("delta_m needs at least one task")
    total = 0.0
    for task in tasks:
        metric = task.primary_metric
        for name, scores in (("mtl_scores", mtl_scores), ("stl_scores", stl_scores)):
            if task.name not in scores or metric not in scores[task.name]:
                raise KeyError(f"{name} has no {task.name!r} / {metric!r} score; it holds "
                               f"{ {k: sorted(v) for k, v in scores.items()} }")
        mtl, stl = float(mtl_scores[task.name][metric]), float(stl_scores[task.name][metric])
        if stl == 0:
            raise ValueError(f"the single-task {task.name} {metric} is 0, so a relative change is undefined")
        sign = 1.0 if task.higher_is_better else -1.0
        total += sign * (mtl - stl) / stl
    return 100.0 * total / len(tasks)

"""Delta_m: one number for "how much did multi-task learning help, on average over tasks"."""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence

# whether a higher value is better, for every metric the tasks report (what delta_m needs to know of a metric)
HIGHER_IS_BETTER: dict[str, bool] = {
    "miou": True, "pixel_acc": True,                                   # semseg
    "abs_err": False, "rel_err": False, "rmse": False,                 # depth
    "f_score": True, "precision": True, "recall": True, "ois": True,   # edges
    "mean_angle": False, "median_angle": False,                        # normals
    "within_11.25": True, "within_22.5": True, "within_30": True,
    "f1": True, "accuracy": True,                                      # labels
}


class ScoredTask(Protocol):
    """What delta_m reads of a task (mtl_course.tasks.Task has these)."""

    name: str
    primary_metric: str
    higher_is_better: bool


def delta_m(mtl_scores: Mapping[str, Mapping[str, float]], stl_scores: Mapping[str, Mapping[str, float]],
            tasks: Sequence[ScoredTask], metrics: Mapping[str, Sequence[str]] | None = None) -> float:
    """Average relative change of each task's metric against its single-task baseline, in %.

        delta_m = (100 / T) * sum_t (-1)^{l_t} * (M_mtl,t - M_stl,t) / M_stl,t

    with l_t = 1 when lower is better for task t (Maninis et al. 2019; Vandenhende et al. 2021).
    Positive means the multi-task model is better on average.

    Which metric: by default each task's `primary_metric` (the course's choice: depth abs_err, normals
    mean_angle, ...). Published tables use other sets, so their values are not comparable with ours unless
    the same set is used; `metrics` reproduces them:
        metrics={"depth": ["rmse"]}                        Vandenhende et al.'s NYUD choice for depth
        metrics={"depth": ["abs_err", "rel_err"], ...}     several metrics of a task are averaged first, each
                                                           with its own direction (LibMTL's Delta_p)
    Tasks not named in `metrics` keep their primary metric.

    Inputs:
        mtl_scores, stl_scores: {task name: {metric name: value}}, e.g. from `evaluate`
        tasks: the tasks to average over
    """
    if not tasks:
        raise ValueError("delta_m needs at least one task")
    metrics = dict(metrics or {})
    unknown = set(metrics) - {t.name for t in tasks}
    if unknown:
        raise KeyError(f"metrics names tasks {sorted(unknown)} that are not among the tasks {[t.name for t in tasks]}")
    total = 0.0
    for task in tasks:
        chosen = list(metrics.get(task.name, [task.primary_metric]))
        if not chosen:
            raise ValueError(f"metrics[{task.name!r}] is empty; name at least one metric, "
                             f"e.g. ['{task.primary_metric}']")
        total += sum(_relative_change(mtl_scores, stl_scores, task, metric) for metric in chosen) / len(chosen)
    return 100.0 * total / len(tasks)


def _relative_change(mtl_scores: Mapping[str, Mapping[str, float]], stl_scores: Mapping[str, Mapping[str, float]],
                     task: ScoredTask, metric: str) -> float:
    """(M_mtl - M_stl) / M_stl for one metric of one task, with the sign that makes better positive."""
    for name, scores in (("mtl_scores", mtl_scores), ("stl_scores", stl_scores)):
        if task.name not in scores or metric not in scores[task.name]:
            raise KeyError(f"{name} has no {task.name!r} / {metric!r} score; it holds "
                           f"{ {k: sorted(v) for k, v in scores.items()} }")
    if metric == task.primary_metric:
        higher = task.higher_is_better
    elif metric in HIGHER_IS_BETTER:
        higher = HIGHER_IS_BETTER[metric]
    else:
        raise KeyError(f"delta_m does not know whether a higher {metric!r} is better; known metrics: "
                       f"{sorted(HIGHER_IS_BETTER)}")
    mtl, stl = float(mtl_scores[task.name][metric]), float(stl_scores[task.name][metric])
    if stl == 0:
        raise ValueError(f"the single-task {task.name} {metric} is 0, so a relative change is undefined")
    return (1.0 if higher else -1.0) * (mtl - stl) / stl

"""Exercise 02 — hard parameter sharing: assemble a shared model, count what is shared, Δm by hand."""

from __future__ import annotations

import torch

from mtl_course.grading.questions import close, question
from mtl_course.metrics import delta_m
from mtl_course.models import UNetEncoder, build_model, count_parameters
from mtl_course.tasks import get_task


def _three_tasks() -> list:
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges")]


@question("02.q1", "For each task: (mtl - stl) / stl, with the sign flipped when lower is better; "
                   "average over tasks and multiply by 100.")
def delta_m_by_hand(fn) -> tuple[bool, str]:
    tasks = _three_tasks()
    cases = [({"semseg": 0.55, "depth": 0.90, "edges": 0.95}, {"semseg": 0.50, "depth": 1.00, "edges": 0.95}),
             ({"semseg": 0.30, "depth": 1.20, "edges": 0.90}, {"semseg": 0.40, "depth": 1.00, "edges": 0.96})]
    higher = {t.name: t.higher_is_better for t in tasks}
    for mtl, stl in cases:
        expected = delta_m({k: {t.primary_metric: mtl[k]} for k, t in zip(mtl, tasks)},
                           {k: {t.primary_metric: stl[k]} for k, t in zip(stl, tasks)}, tasks)
        ok, detail = close(float(fn(dict(mtl), dict(stl), dict(higher))), expected)
        if not ok:
            return False, f"for mtl={mtl}, stl={stl}: {detail}"
    return True, f"matches on {len(cases)} cases, one better and one worse than the baselines"


@question("02.q2", "self.trunk = Trunk(encoder, Decoder(encoder.channels, [16, 32, 64, 128])) and self.heads = "
                   "nn.ModuleDict of a DenseHead per task; forward: shared = self.trunk(x), then "
                   "{name: head(shared) for name, head in self.heads.items()}.")
def build_two_task_net(fn) -> tuple[bool, str]:
    model = fn(6)
    outputs = model(torch.rand(2, 3, 32, 32))
    shapes = {k: tuple(v.shape) for k, v in outputs.items()}
    if shapes != {"semseg": (2, 6, 32, 32), "depth": (2, 1, 32, 32)}:
        return False, f"output shapes {shapes}, expected semseg (2, 6, 32, 32) and depth (2, 1, 32, 32)"
    encoders = [m for m in model.modules() if isinstance(m, UNetEncoder)]
    if len(encoders) != 1:
        return False, f"found {len(encoders)} UNetEncoder modules; hard sharing means exactly one"
    outputs["depth"].sum().backward()
    if encoders[0].stages[0][0].weight.grad is None:
        return False, "the depth loss does not reach the encoder: both heads must read the shared features"
    reference = count_parameters(build_model([get_task("semseg", num_classes=6), get_task("depth")]))
    return close(count_parameters(model), reference, tolerance=0)


@question("02.q3", "count_parameters(model.trunk) (encoder + decoder), divided by count_parameters(model).")
def shared_fraction(value) -> tuple[bool, str]:
    model = build_model(_three_tasks())
    shared = count_parameters(model.trunk)
    return close(float(value), shared / count_parameters(model))


@question("02.q4", "Build both models for the same three tasks and divide their count_parameters.")
def param_ratio(value) -> tuple[bool, str]:
    tasks = _three_tasks()
    ratio = count_parameters(build_model(tasks, sharing="none")) / count_parameters(build_model(tasks))
    return close(float(value), ratio)

"""Export a trained multi-task network to ONNX and run it with ONNX Runtime (`pip install mtl-course[deploy]`).

One ONNX file holds the whole network: one input, "image" [batch, 3, H, W] (floats in [0, 1]; the batch size is
free, H and W are fixed at export), and one output per task, named after the task ("semseg", "depth", ...) and
holding the raw output the PyTorch model gives (logits for semseg, metres for depth...):

    path = to_onnx(model, "model.onnx", size=(64, 64))       # torch.export-based exporter, then onnx.checker
    session = onnx_session(path)                              # ONNX Runtime, on the CPU
    outputs = run_onnx(session, images)                       # {task: tensor}, as model(images) gives
    evaluate_onnx(session, tasks, val)                        # {task: {metric: value}}, as train.evaluate gives
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from mtl_course.models import MultiTaskNet
from mtl_course.models.trunk import as_image_batch
from mtl_course.tasks import Task
from mtl_course.train.batches import iterate, to_tensors

INPUT = "image"
EXTRA = "pip install 'mtl-course[deploy]' (or: pip install onnx onnxscript onnxruntime)"


def _require(module: str) -> Any:
    """Import an optional dependency, or raise an ImportError that says how to install it."""
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(f"exporting and running ONNX models needs the package {module!r}: {EXTRA}") from err


def _check_size(size: Any) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in size)):
        raise ValueError(f"size must be (height, width) in pixels, e.g. size=(64, 64), got {size!r}")
    as_image_batch(torch.zeros(1, 3, *size))            # multiples of 16, at least 32: raises with the reason
    return int(size[0]), int(size[1])


def to_onnx(model: MultiTaskNet, path: str | Path, size: tuple[int, int] | int = (64, 64),
            opset: int | None = None) -> Path:
    """Write `model` to `path` as ONNX (input "image" [batch, 3, H, W], outputs named after the tasks), weights
    included (one file, no .data beside it); returns the path. The model is exported in eval mode (batch-norm
    statistics frozen) from a CPU copy; it is left as it was."""
    if not isinstance(model, MultiTaskNet):
        raise TypeError(f"to_onnx exports a MultiTaskNet (from build_model), got {type(model).__name__}")
    height, width = _check_size(size)
    onnx = _require("onnx")
    _require("onnxscript")                              # the torch.export-based exporter writes ONNX with it
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cpu = copy.deepcopy(model).cpu().eval()
    example = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    names = list(cpu.heads)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")             # the exporter's progress lines and notes
            torch.onnx.export(cpu, (example,), str(path), input_names=[INPUT], output_names=names,
                              dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=opset,
                              dynamo=True, external_data=False)     # one self-contained file
    except Exception as err:
        raise RuntimeError(f"the ONNX export of this model failed ({type(err).__name__}: {str(err)[:300]}). "
                           f"Models from build_model export; a module of your own must be traceable by "
                           f"torch.export (no Python branches on tensor values)") from err
    onnx.checker.check_model(str(path))
    return path


def onnx_session(path: str | Path) -> Any:
    """An ONNX Runtime inference session for the file at `path`, on the CPU."""
    ort = _require("onnxruntime")
    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX file at {path}; write one with to_onnx(model, path, size)")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(session: Any, images: Tensor) -> dict[str, Tensor]:
    """Run an exported model on images [B, 3, H, W] (floats in [0, 1], or uint8): {task: output tensor}."""
    expected = session.get_inputs()[0].shape             # ["batch", 3, H, W]
    images = as_image_batch(images.detach().cpu())
    if list(images.shape[1:]) != list(expected[1:]):
        raise ValueError(f"this ONNX model was exported for images [batch, {', '.join(map(str, expected[1:]))}], "
                         f"got {list(images.shape)}; resize the images or export again with size=(H, W)")
    outputs = session.run(None, {INPUT: images.float().numpy()})
    return {meta.name: torch.from_numpy(value) for meta, value in zip(session.get_outputs(), outputs)}


def evaluate_onnx(session: Any, tasks: Sequence[Task], data: Any, batch_size: int = 64) -> dict[str, dict[str, float]]:
    """Scores of an exported model on `data`, {task name: {metric: value}}: the same metrics, accumulated the same
    way over batches, as mtl_course.train.evaluate gives for the PyTorch model."""
    names = [meta.name for meta in session.get_outputs()]
    missing = [t.name for t in tasks if any(name not in names for name in t.reads)]
    if missing:
        raise ValueError(f"the ONNX model has no output for {missing} (its outputs are {names})")
    keys = ["image", *dict.fromkeys(t.target for t in tasks)]
    states = {t.name: t.metric_state() for t in tasks}
    for batch in iterate(data, to_tensors(data, keys), keys, batch_size, torch.device("cpu")):
        outputs = run_onnx(session, batch["image"])
        for task in tasks:
            states[task.name].update(*task.inputs(outputs, batch))
    return {name: state.compute() for name, state in states.items()}

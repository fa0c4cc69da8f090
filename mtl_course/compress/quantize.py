"""Post-training static quantisation of an exported model, with ONNX Runtime's tool (`pip install mtl-course[deploy]`).

Weights become 8-bit integers (per output channel) and so do the activations between layers, with the scale of
each activation measured on a few calibration images. The operations that write the model's outputs (each head's
last convolution) stay in float32 unless float_outputs=False: 256 levels are too coarse for a depth in metres
(lesson 09 measures it). The file holds QuantizeLinear / DequantizeLinear pairs
around each operation (the "QDQ" format), which ONNX Runtime runs with integer kernels on the CPU.

    to_onnx(model, "model.onnx", size=64)
    quantize_onnx("model.onnx", "model-int8.onnx", calibration_images)   # images [N, 3, H, W] in [0, 1]

Why not torch.ao.quantization? With torch 2.14 its eager mode needs quant/dequant stubs and module fusion written
into the model, its FX mode cannot trace our models' input checks, and its PT2E path has moved to the torchao
package; the deployed artefact is the ONNX file anyway, so the course quantises that.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from torch import Tensor

EXTRA = "pip install 'mtl-course[deploy]' (or: pip install onnx onnxruntime)"


def quantize_onnx(path: str | Path, out: str | Path, calibration_images: Tensor, batch_size: int = 16,
                  per_channel: bool = True, float_outputs: bool = True) -> Path:
    """Write an int8 copy of the ONNX model at `path` to `out`, calibrated on `calibration_images` [N, 3, H, W]
    (a few dozen training images; floats in [0, 1]); returns `out`. float_outputs: keep the operations that
    produce the model's outputs in float32."""
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as err:
        raise ImportError(f"quantising ONNX models needs onnxruntime: {EXTRA}") from err
    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX file at {path}; write one with mtl_course.export.to_onnx(model, path, size)")
    if not isinstance(calibration_images, Tensor) or calibration_images.dim() != 4 or len(calibration_images) == 0:
        raise ValueError("calibration_images must be a non-empty image batch [N, 3, H, W] (floats in [0, 1]), e.g. "
                         "train.tensors()['image'][:64]")
    images = calibration_images.detach().cpu().float()
    batches = [{"image": images[i:i + batch_size].numpy()} for i in range(0, len(images), batch_size)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, Any] | None:
            return next(self.batches, None)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(path), str(prepared))            # shape inference and graph clean-up, as ORT advises
        graph = onnx.load(str(prepared)).graph
        producers = {name: node.name for node in graph.node for name in node.output}
        keep = [producers[o.name] for o in graph.output if o.name in producers] if float_outputs else []
        quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=keep)
    return out

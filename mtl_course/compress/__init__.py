"""Smaller networks for deployment: knowledge distillation, pruning, 8-bit quantisation.

    history = distill(teacher, student, tasks, train, val, weight=1.0, temperature=2.0, epochs=5)
    prune_model(model, amount=0.5); sparsity(model)
    quantize_onnx("model.onnx", "model-int8.onnx", calibration_images)     # needs the deploy extra
"""

from mtl_course.compress.distill import Distill, distill, distillation_loss, teacher_outputs
from mtl_course.compress.prune import convolutions, prune_model, sparsity
from mtl_course.compress.quantize import quantize_onnx

__all__ = ["Distill", "convolutions", "distill", "distillation_loss", "prune_model", "quantize_onnx", "sparsity",
           "teacher_outputs"]

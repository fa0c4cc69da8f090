"""Smaller networks for deployment: knowledge distillation (pruning and quantisation: to come, issue #14).

    history = distill(teacher, student, tasks, train, val, weight=1.0, temperature=2.0, epochs=5)
"""

from mtl_course.compress.distill import Distill, distill, distillation_loss, teacher_outputs

__all__ = ["Distill", "distill", "distillation_loss", "teacher_outputs"]

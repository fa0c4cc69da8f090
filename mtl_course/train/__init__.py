"""Training: fit, evaluate, History, and checkpoints."""

from mtl_course.train.checkpoint import load_checkpoint, save_checkpoint
from mtl_course.train.history import History
from mtl_course.train.loop import evaluate, fit

__all__ = ["History", "evaluate", "fit", "load_checkpoint", "save_checkpoint"]

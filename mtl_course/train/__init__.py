"""Training: one step (step.py), fit and evaluate around it (loop.py), History, checkpoints.

    step.py       plain_step, gradient_step: one optimiser step, written out
    finite.py     FiniteCheck: stop at a NaN or inf loss before it changes the model (on a GPU without a host sync)
    gradients.py  task_gradients: G [T, P], the per-task gradients of the shared part
    loop.py       fit, evaluate
    history.py    History (per-epoch records; history.plot())
    checkpoint.py save_checkpoint, load_checkpoint, load_history
"""

from mtl_course.train.checkpoint import load_checkpoint, load_history, save_checkpoint
from mtl_course.train.gradients import pairwise_cosines, task_gradients
from mtl_course.train.history import History
from mtl_course.train.loop import evaluate, fit
from mtl_course.train.step import gradient_step, plain_step

__all__ = ["History", "evaluate", "fit", "gradient_step", "load_checkpoint", "load_history", "pairwise_cosines",
           "plain_step", "save_checkpoint", "task_gradients"]

"""Run by tests/test_distributed.py under torchrun: fit on 2 processes, then every rank saves what it holds."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import fit
from mtl_course.weighting import get_weighting

out = Path(sys.argv[1])
tasks = [get_task("semseg", num_classes=6), get_task("depth")]
torch.distributed.init_process_group("gloo")
model = build_model(tasks, seed=1 + dist.get_rank())      # other initial weights per process: DDP copies rank 0's
weighting = get_weighting("uncertainty")
history = fit(model, tasks, SyntheticScenes(n=48, size=32, seed=4, cache=False), epochs=2, batch_size=8,
              weighting=weighting, progress=False)
rank = dist.get_rank()
torch.save({"parameters": {k: v.detach() for k, v in model.named_parameters()},
            "task_weights": [p.detach() for p in weighting.parameters()], "loss": history.train_loss,
            "steps": history.steps_per_epoch}, out / f"rank{rank}.pt")
dist.destroy_process_group()

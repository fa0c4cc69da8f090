"""python -m mtl_course train: under torchrun with 2 gloo processes it matches one process; killed, it resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mtl_course._io import load_verified
from mtl_course.train import load_checkpoint, load_history

CONFIG = """
[data]
name = "synthetic"
size = 32
n_train = 64
n_val = 32
seed = 4

[model]
encoder = "unet"

[train]
tasks = {tasks}
weighting = "{weighting}"
epochs = {epochs}
batch_size = {batch_size}
lr = 2e-3
seed = 1
"""


def write_config(folder: Path, name: str, batch_size: int, epochs: int = 2, weighting: str = "equal",
                 tasks: str = '["semseg", "depth", "edges"]') -> Path:
    path = folder / f"{name}.toml"
    path.write_text(CONFIG.format(batch_size=batch_size, epochs=epochs, weighting=weighting, tasks=tasks))
    return path


def environment() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MTL_COURSE_PROGRESS": "0"}


def train(config: Path, out: Path, processes: int = 1, **kwargs) -> subprocess.CompletedProcess | subprocess.Popen:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] \
        if processes > 1 else [sys.executable]
    command = [*launcher, "-m", "mtl_course", "train", str(config), "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, env=environment(), timeout=600, **kwargs)


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    one = train(write_config(tmp_path, "one", batch_size=16), tmp_path / "one")
    two = train(write_config(tmp_path, "two", batch_size=8), tmp_path / "two", processes=2)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert "trained on 2 process(es)" in two.stdout and two.stdout.count("model written") == 1   # rank 0 alone
    single, ddp = load_history(tmp_path / "one" / "model.pt"), load_history(tmp_path / "two" / "model.pt")
    assert ddp.steps_per_epoch == single.steps_per_epoch == 4
    # The same 16 images make each step; what differs: batch-norm statistics per process of 8, and each loss's
    # mean over 8 images averaged over 2 processes instead of over 16 at once (edges: per-batch class balance).
    for task, metric in (("semseg", "miou"), ("depth", "abs_err"), ("edges", "f_score")):
        a, b = single.val_metrics[task][metric], ddp.val_metrics[task][metric]
        assert all(abs(x - y) <= 0.05 * max(1.0, abs(x)) for x, y in zip(a, b)), (task, a, b)
    for task in single.train_loss:
        assert all(abs(x - y) <= 0.05 * abs(x) for x, y in zip(single.train_loss[task], ddp.train_loss[task]))
    ddp_weights = load_checkpoint(tmp_path / "two" / "model.pt").state_dict()
    single_weights = load_checkpoint(tmp_path / "one" / "model.pt").state_dict()
    moved = [float((ddp_weights[k] - single_weights[k]).abs().max()) for k in single_weights if "weight" in k]
    assert max(moved) < 0.05


def test_the_processes_keep_identical_weights(tmp_path):
    """Each process trains on other images (and starts from other weights); DDP's gradient averaging (and the hook
    on the learnable task weights) keeps every copy identical, to the bit."""
    worker = Path(__file__).parent / "ddp_worker.py"
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(worker), str(tmp_path)], capture_output=True, text=True, env=environment(), timeout=600)
    assert run.returncode == 0, run.stderr
    zero, one = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert zero["steps"] == 3                                      # 48 images / (8 per process x 2 processes)
    assert zero["loss"] == one["loss"]                             # the epoch losses, averaged over the processes
    for name, value in zero["parameters"].items():
        assert torch.equal(value, one["parameters"][name]), name
    assert all(torch.equal(a, b) for a, b in zip(zero["task_weights"], one["task_weights"]))
    assert not torch.equal(zero["task_weights"][0], torch.zeros_like(zero["task_weights"][0]))   # they did train


def test_gradient_strategies_are_refused_under_ddp(tmp_path):
    run = train(write_config(tmp_path, "pcgrad", batch_size=8, weighting="pcgrad"), tmp_path / "out", processes=2)
    assert run.returncode != 0
    assert "DistributedDataParallel does not average" in run.stderr


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    config = write_config(tmp_path, "run", batch_size=8, epochs=3)
    whole = train(config, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "mtl_course", "train", str(config), "--out", str(out)]
    process = subprocess.Popen(command, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if (out / "last.pt").is_file() and load_verified(out / "last.pt")["epoch"] == 1:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert load_verified(out / "last.pt")["epoch"] == 1 and not (out / "model.pt").exists()
    resumed = train(config, out)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout and "epoch 1 done" in resumed.stdout
    a, b = load_checkpoint(tmp_path / "whole" / "model.pt"), load_checkpoint(out / "model.pt")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
    assert load_history(out / "model.pt").train_loss == load_history(tmp_path / "whole" / "model.pt").train_loss


def test_config_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\ntasks = ["semseg"]\nepoch = 3\n')
    run = train(bad, tmp_path / "out")
    assert run.returncode == 2 and "unknown key(s) ['epoch'] in [train]" in run.stderr
    folder = write_config(tmp_path, "folder", batch_size=8).read_text().replace('name = "synthetic"',
                                                                                 'name = "folder"')
    (tmp_path / "folder.toml").write_text(folder)
    run = train(tmp_path / "folder.toml", tmp_path / "out")
    assert run.returncode == 2 and "needs root" in run.stderr


@pytest.mark.parametrize("path", ["configs/example.toml"])
def test_the_example_config_is_valid(path):
    from mtl_course.train.config import read_config
    config = read_config(Path(__file__).resolve().parents[1] / path)
    assert config["data"]["name"] == "synthetic" and config["train"]["tasks"]

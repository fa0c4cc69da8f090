import pytest
import torch
from torch import nn
from torch._dynamo.exc import BackendCompilerFailed

import mtl_course as mc
from mtl_course._io import CorruptFileError
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import History, evaluate, fit, load_checkpoint, load_history, plain_step, save_checkpoint
from mtl_course.train.finite import FiniteCheck
from mtl_course.weighting import get_weighting


def small_fit(tasks, data, **kwargs):
    mc.seed_everything(0)
    model = build_model(tasks)
    options = {"epochs": 2, "batch_size": 8, "lr": 2e-3, "progress": False, "device": "cpu", **kwargs}
    return model, fit(model, tasks, data, data, **options)


def test_history_records_every_epoch_and_task(all_tasks, scenes):
    model, hist = small_fit(all_tasks, scenes)
    assert isinstance(hist, History) and hist.epochs == [1, 2]
    for task in all_tasks:
        assert len(hist.train_loss[task.name]) == 2
        assert hist.weights[task.name] == [1.0, 1.0]          # equal weighting: sum objective, w = 1
        assert len(hist.val_metrics[task.name][task.primary_metric]) == 2
    assert len(hist.epoch_seconds) == 2 and hist.seconds > 0
    assert hist.final()["semseg"]["miou"] == hist.val_metrics["semseg"]["miou"][-1]


def test_two_cpu_runs_with_the_same_seed_are_identical(all_tasks, scenes):
    _, first = small_fit(all_tasks[:3], scenes)
    _, second = small_fit(all_tasks[:3], scenes)
    assert first.train_loss == second.train_loss
    assert first.val_metrics == second.val_metrics
    _, other = small_fit(all_tasks[:3], scenes, seed=1)
    assert other.train_loss != first.train_loss


def test_training_reduces_the_loss(scenes):
    tasks = [get_task("semseg", num_classes=6), get_task("depth")]
    _, hist = small_fit(tasks, scenes, epochs=10, batch_size=4)
    for task in tasks:
        assert hist.train_loss[task.name][-1] < 0.7 * hist.train_loss[task.name][0], task.name


def test_fixed_weights_are_applied_and_recorded(scenes):
    tasks = [get_task("depth"), get_task("edges")]
    _, hist = small_fit(tasks, scenes, epochs=1, weighting={"depth": 0.1, "edges": 2.0})
    assert hist.weights == {"depth": [pytest.approx(0.1)], "edges": [2.0]}
    with pytest.raises(ValueError, match="missing"):
        small_fit(tasks, scenes, epochs=1, weighting={"depth": 1.0})
    with pytest.raises(ValueError, match="unknown weighting"):
        small_fit(tasks, scenes, epochs=1, weighting="magic")


def test_evaluate_in_one_batch_equals_many_batches(all_tasks, scenes):
    model, _ = small_fit(all_tasks, scenes, epochs=1)
    one = evaluate(model, all_tasks, scenes, batch_size=64, device="cpu")
    many = evaluate(model, all_tasks, scenes, batch_size=5, device="cpu")
    for task in all_tasks:
        for metric, value in one[task.name].items():
            assert many[task.name][metric] == pytest.approx(value, rel=1e-5, abs=1e-7), (task.name, metric)


def test_fit_accepts_a_plain_dataset_of_dict_samples(scenes):
    tasks = [get_task("depth")]
    as_list = [scenes[i] for i in range(len(scenes))]
    _, from_list = small_fit(tasks, as_list, epochs=1)
    _, from_scenes = small_fit(tasks, scenes, epochs=1)
    assert from_list.train_loss == from_scenes.train_loss


class NaNAfter(nn.Module):
    """Wraps a head; from call `after` on, its output is NaN."""

    def __init__(self, head, after):
        super().__init__()
        self.head, self.after, self.calls = head, after, 0

    def forward(self, shared):
        self.calls += 1
        out = self.head(shared)
        return out * float("nan") if self.calls >= self.after else out


def test_nan_loss_stops_training_naming_task_and_step(scenes):
    tasks = [get_task("semseg", num_classes=6), get_task("depth")]
    mc.seed_everything(0)
    model = build_model(tasks)
    model.heads["depth"] = NaNAfter(model.heads["depth"], after=3)
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    with pytest.raises(FloatingPointError, match=r"at epoch 1, step 3 \(lr=0.001\): the depth loss became nan; "
                                                 r"training stopped before this step"):
        fit(model, tasks, scenes, epochs=2, batch_size=8, progress=False, device="cpu")
    changed = [name for name, p in model.named_parameters() if not torch.equal(p, start[name])]
    assert changed                                    # steps 1 and 2 trained ...
    model.heads["depth"].calls = 0                    # ... and step 3 did not: the NaN step changes nothing
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.heads["depth"].after = 1
    with pytest.raises(FloatingPointError, match=r"at epoch 1, step 1"):
        fit(model, tasks, scenes, epochs=1, batch_size=8, progress=False, device="cpu")
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())


def test_a_fused_optimiser_keeps_the_nan_check_on_the_device_and_skips_the_bad_update(scenes):
    """Deferred check (what fit does on a GPU): no host read per step; the fused AdamW skips the NaN step's update
    and every later one, so when the check is read the weights are those from before the bad step."""
    tasks = [get_task("semseg", num_classes=6), get_task("depth")]
    data = scenes.tensors()
    batches = [{k: data[k][i:i + 8] for k in ("image", "semseg", "depth")} for i in range(0, 20, 4)]
    batches[2] = {**batches[2], "depth": torch.full_like(batches[2]["depth"], float("inf"))}   # step 3: depth inf
    mc.seed_everything(0)
    model = build_model(tasks)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    check = FiniteCheck(["semseg", "depth"], optimizer, every=4)
    assert check.deferred
    snapshots = []
    with pytest.raises(FloatingPointError) as raised:
        for batch in batches:
            plain_step(model, tasks, batch, get_weighting("equal"), optimizer, check=check)   # no error at step 3
            snapshots.append({k: v.detach().clone() for k, v in model.named_parameters()})
    assert len(snapshots) == 4                         # steps 1-4 ran; the read before step 5 (every=4) raised
    assert raised.value.step == 3 and "the depth loss became" in str(raised.value)
    assert "skipped that update and the 1 after it" in str(raised.value)
    assert all(not torch.equal(snapshots[0][k], snapshots[1][k]) for k in snapshots[0])     # steps 1, 2 trained
    assert all(torch.equal(p, snapshots[1][k]) for k, p in model.named_parameters())        # 3, 4: skipped
    assert all(torch.equal(snapshots[2][k], snapshots[1][k]) for k in snapshots[1])
    assert all(torch.equal(s["step"], torch.tensor(2.0)) for s in optimizer.state.values())  # Adam's count too


def test_fit_with_a_fused_optimiser_names_the_first_bad_step(scenes):
    tasks = [get_task("semseg", num_classes=6), get_task("depth")]
    mc.seed_everything(0)
    model = build_model(tasks)
    model.heads["depth"] = NaNAfter(model.heads["depth"], after=7)    # 3 steps an epoch: epoch 3, step 1
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    with pytest.raises(FloatingPointError, match=r"at epoch 3, step 1 \(lr=0.001\): the depth loss became nan; the "
                                                 r"fused optimiser skipped that update and the 2 after it"):
        fit(model, tasks, scenes, epochs=4, batch_size=8, progress=False, device="cpu", optimizer=optimizer)
    assert not hasattr(optimizer, "found_inf")                        # the optimiser is the user's again
    with pytest.raises(ValueError, match="fused=True"):
        FiniteCheck(["semseg"], torch.optim.AdamW(model.parameters()), deferred=True)
    with pytest.raises(FloatingPointError, match="the depth loss became nan; training stopped before this step"):
        batch = {k: v[:8] for k, v in scenes.tensors().items()}       # a step called directly checks at once
        plain_step(model, tasks, batch, get_weighting("equal"), optimizer)


def test_nan_targets_are_refused_before_training(scenes):
    data = scenes.tensors()
    data = {**data, "depth": data["depth"].clone()}
    data["depth"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="depth targets contain NaN"):
        small_fit([get_task("depth")], data)


def test_class_count_mismatch_is_refused_before_training(scenes):
    with pytest.raises(ValueError, match="class id 5 but the model predicts 4 classes"):
        small_fit([get_task("semseg", num_classes=4)], scenes)


def test_model_without_the_task_output(scenes):
    model = build_model([get_task("depth")])
    with pytest.raises(ValueError, match=r"no output for task\(s\) \['edges'\]"):
        fit(model, [get_task("edges")], scenes, progress=False, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error(scenes):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        small_fit([get_task("depth")], scenes, device="cuda")


def test_checkpoint_roundtrip_restores_outputs_and_history(all_tasks, scenes, tmp_path):
    model, hist = small_fit(all_tasks, scenes, epochs=1)
    path = save_checkpoint(model, tmp_path / "model.pt", hist)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]      # no temporary file left behind
    loaded = load_checkpoint(path)
    x = scenes.tensors()["image"][:4]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    model.eval(), loaded.eval()
    with torch.no_grad():           # the trained model is channels_last, the loaded one is not: same up to rounding
        for name, out in model(x).items():
            assert torch.allclose(out, loaded(x)[name], atol=1e-5), name
    assert loaded.config == model.config and load_history(path).train_loss == hist.train_loss
    assert load_history(save_checkpoint(model, tmp_path / "no-history.pt")) is None


def test_checkpoint_missing_truncated_tampered(all_tasks, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    path = save_checkpoint(build_model(all_tasks[:2]), tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[:-1000])
    with pytest.raises(CorruptFileError, match="truncated or was modified"):
        load_checkpoint(path)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0x01
    path.write_bytes(bytes(tampered))
    with pytest.raises(CorruptFileError, match="SHA-256"):
        load_checkpoint(path)
    torch.save({"state_dict": {}}, path)                             # a plain torch file, not ours
    with pytest.raises(CorruptFileError, match="bad header"):
        load_checkpoint(path)


def test_save_checkpoint_needs_a_built_model(tmp_path):
    with pytest.raises(ValueError, match="build_model"):
        save_checkpoint(nn.Linear(2, 2), tmp_path / "x.pt")


def test_bad_fit_arguments(scenes):
    tasks = [get_task("depth")]
    model = build_model(tasks)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, tasks, scenes, epochs=0, progress=False)
    with pytest.raises(ValueError, match="lr > 0"):
        fit(model, tasks, scenes, lr=-1, progress=False)
    with pytest.raises(TypeError, match="Task objects"):
        fit(model, ["depth"], scenes, progress=False)


def test_a_renamed_task_trains_on_its_own_key_and_checkpoints(scenes, tmp_path):
    data = scenes.tensors()
    data = {**data, "shuffled": data["semseg"].flip(0)}
    tasks = [get_task("semseg", num_classes=6), get_task("semseg", num_classes=6, key="shuffled")]
    model, hist = small_fit(tasks, data, epochs=1)
    assert set(hist.train_loss) == {"semseg", "shuffled"}
    scores = evaluate(model, tasks, data, device="cpu")
    assert scores["semseg"] != scores["shuffled"]
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "two.pt"))
    assert loaded.task_names == ["semseg", "shuffled"]


def test_progress_bar_follows_the_environment(scenes, monkeypatch, capsys):
    tasks = [get_task("depth")]
    monkeypatch.setenv("MTL_COURSE_PROGRESS", "1")
    small_fit(tasks, scenes, epochs=1, progress=None)
    assert "fit" in capsys.readouterr().err
    monkeypatch.setenv("MTL_COURSE_PROGRESS", "0")
    small_fit(tasks, scenes, epochs=1, progress=None)
    assert "fit" not in capsys.readouterr().err


def test_a_cosine_schedule_ends_at_zero_and_keep_best_keeps_the_best_epochs_weights(scenes):
    tasks = [get_task("depth")]
    model = build_model(tasks, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    history = fit(model, tasks, scenes, scenes, epochs=4, lr=1e-2, batch_size=8, optimizer=optimizer,
                  schedule="cosine", keep_best="depth", progress=False, device="cpu")
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)   # cosine: lr down to 0 at the last step
    errors = history.val_metrics["depth"]["abs_err"]
    assert history.best_epoch == 1 + min(range(4), key=lambda i: errors[i])
    kept = evaluate(model, tasks, scenes)["depth"]["abs_err"]
    assert kept == pytest.approx(errors[history.best_epoch - 1], rel=1e-5)     # the weights of that epoch
    constant = torch.optim.AdamW(build_model(tasks, seed=0).parameters(), lr=1e-2)
    assert fit(build_model(tasks, seed=0), tasks, scenes, epochs=1, optimizer=constant, batch_size=8,
               progress=False).best_epoch is None and constant.param_groups[0]["lr"] == 1e-2
    with pytest.raises(ValueError, match="not one of"):
        fit(model, tasks, scenes, scenes, epochs=1, keep_best="semseg", progress=False)
    with pytest.raises(ValueError, match="pass val data"):
        fit(model, tasks, scenes, epochs=1, keep_best="depth", progress=False)
    with pytest.raises(ValueError, match="unknown schedule"):
        fit(model, tasks, scenes, epochs=1, schedule="step", progress=False)


def test_fit_compile_runs_the_forward_through_torch_compile_and_explains_a_failure(scenes, monkeypatch):
    """The wiring, with torch.compile replaced (a real compile takes a minute on a CPU: tests/test_gpu.py does
    one on a GPU). compile=True must call the compiled module for every plain step and train the same weights."""
    calls = []

    def fake_compile(module):
        def compiled(x):
            calls.append(x.shape[0])
            return module(x)
        return compiled

    tasks = [get_task("semseg", num_classes=6), get_task("depth")]
    monkeypatch.setattr(torch, "compile", fake_compile)
    _, eager = small_fit(tasks, scenes)
    _, compiled = small_fit(tasks, scenes, compile=True)
    assert calls == [8] * 6 and compiled.train_loss == eager.train_loss        # 3 steps x 2 epochs

    def failing_compile(module):
        def compiled(x):
            raise BackendCompilerFailed(fake_compile, RuntimeError("no C++ compiler found"), None)
        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)
    with pytest.raises(RuntimeError, match=r"torch.compile could not compile the model here .*fit\(\.\.\., "
                                           r"compile=False\)"):
        small_fit(tasks, scenes, compile=True)

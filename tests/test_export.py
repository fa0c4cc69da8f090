"""ONNX export: the real exporter, onnx.checker and ONNX Runtime on the CPU, compared with PyTorch."""

from __future__ import annotations

import builtins

import pytest
import torch

from mtl_course.data import SyntheticScenes
from mtl_course.export import evaluate_onnx, onnx_session, run_onnx, to_onnx
from mtl_course.models import build_model
from mtl_course.tasks import get_task
from mtl_course.train import evaluate

pytest.importorskip("onnxruntime", reason="the deploy extra: pip install 'mtl-course[deploy]'")
pytest.importorskip("onnxscript", reason="the deploy extra: pip install 'mtl-course[deploy]'")

TOLERANCE = 1e-4          # largest absolute difference between ONNX Runtime's outputs and PyTorch's (float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tasks = [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges"), get_task("offsets")]
    model = build_model(tasks, seed=0)
    model.train()                                                     # export must not depend on the mode
    path = to_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", size=(32, 48))
    assert model.training                                             # left as it was
    assert not path.with_name(path.name + ".data").exists()           # weights inside: one file to ship
    return model, path


def test_onnx_runtime_gives_pytorchs_outputs_for_every_task_and_batch_size(exported):
    model, path = exported
    session = onnx_session(path)
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["semseg", "depth", "edges", "offsets"]
    model.eval()
    for batch in (1, 5):                                              # the batch axis is dynamic
        images = torch.rand(batch, 3, 32, 48, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(images)
        got = run_onnx(session, images)
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert got[name].shape == value.shape, name
            assert (got[name] - value).abs().max() < TOLERANCE, name
    uint8 = (torch.rand(1, 3, 32, 48) * 255).to(torch.uint8)          # 8-bit images are read as the model reads them
    with torch.no_grad():
        assert (run_onnx(session, uint8)["semseg"] - model(uint8)["semseg"]).abs().max() < TOLERANCE
    model.train()


def test_the_exported_model_scores_what_the_pytorch_model_scores(exported):
    model, path = exported
    tasks = [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges"), get_task("offsets")]
    scenes = SyntheticScenes(n=23, size=48, seed=2, split="val", cache=False).tensors()
    data = {key: value[..., 8:40, :] for key, value in scenes.items() if value.dim() >= 3}   # 32x48 crops
    expected = evaluate(model, tasks, data)
    got = evaluate_onnx(onnx_session(path), tasks, data, batch_size=10)     # batches of 10, 10, 3
    assert set(got) == set(expected)
    for name, metrics in expected.items():
        assert set(got[name]) == set(metrics)
        for metric, value in metrics.items():
            assert got[name][metric] == pytest.approx(value, rel=1e-3, abs=1e-4), (name, metric)
    with pytest.raises(ValueError, match="no output for"):
        evaluate_onnx(onnx_session(path), [get_task("normals")], data)


def test_bad_sizes_models_and_images_are_refused_with_the_fix(exported, tmp_path):
    model, path = exported
    with pytest.raises(ValueError, match="multiples of 16"):
        to_onnx(model, tmp_path / "m.onnx", size=(40, 40))
    with pytest.raises(ValueError, match=r"\(height, width\)"):
        to_onnx(model, tmp_path / "m.onnx", size="64")
    with pytest.raises(TypeError, match="MultiTaskNet"):
        to_onnx(torch.nn.Conv2d(3, 1, 3), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"exported for images \[batch, 3, 32, 48\].*size="):
        run_onnx(onnx_session(path), torch.rand(1, 3, 64, 64))
    with pytest.raises(FileNotFoundError, match="to_onnx"):
        onnx_session(tmp_path / "missing.onnx")


def test_a_missing_extra_says_how_to_install_it(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ImportError, match=r"mtl-course\[deploy\]"):
        to_onnx(build_model([get_task("depth")], seed=0), tmp_path / "m.onnx", size=32)


@pytest.mark.parametrize("options", [{"sharing": "attention"}, {"sharing": "cross_stitch"}, {"encoder": "resnet18"}],
                         ids=["attention", "cross_stitch", "resnet18"])
def test_every_kind_of_network_exports(options, tmp_path):
    tasks = [get_task("semseg", num_classes=6), get_task("labels", num_classes=6)]    # a dense and an image head
    model = build_model(tasks, seed=0, **options).eval()
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    got = run_onnx(onnx_session(to_onnx(model, tmp_path / "m.onnx", size=32)), images)
    with torch.no_grad():
        expected = model(images)
    assert all((got[name] - value).abs().max() < TOLERANCE for name, value in expected.items())


def test_an_int8_copy_is_smaller_and_stays_close_to_the_float_model(exported, tmp_path):
    from mtl_course.compress import quantize_onnx
    model, path = exported
    images = torch.rand(32, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    int8 = quantize_onnx(path, tmp_path / "int8.onnx", images)
    assert int8.stat().st_size < 0.4 * path.stat().st_size           # 8-bit weights instead of 32-bit
    fp32, small = run_onnx(onnx_session(path), images[:8]), run_onnx(onnx_session(int8), images[:8])
    for name in ("semseg", "depth"):
        error = (small[name] - fp32[name]).abs().mean() / fp32[name].abs().mean()
        assert error < 0.1, (name, float(error))
    coarse = quantize_onnx(path, tmp_path / "int8-all.onnx", images, float_outputs=False)
    everything = run_onnx(onnx_session(coarse), images[:8])
    for name in ("semseg", "depth", "edges", "offsets"):                  # float heads: closer on every output
        assert (small[name] - fp32[name]).abs().mean() < (everything[name] - fp32[name]).abs().mean(), name
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        quantize_onnx(path, tmp_path / "x.onnx", torch.rand(3, 32, 48))
    with pytest.raises(FileNotFoundError, match="to_onnx"):
        quantize_onnx(tmp_path / "missing.onnx", tmp_path / "x.onnx", images)

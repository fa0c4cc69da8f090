"""The course-pretrained backbone: shipped file, hash check, architecture check, deterministic regeneration."""

from __future__ import annotations

import shutil

import pytest
import torch

from mtl_course._io import CorruptFileError
from mtl_course.models import build_model
from mtl_course.lessons.pretrain import FAMILY_OF_CLASS, PretrainSetup, pretrain
from mtl_course.lessons.transfer_study import TransferSetup, fine_tuning, run
from mtl_course.models.pretrained import COURSE_BACKBONES, best_pretrained, load_backbone, pretrained_dir, sha256_of
from mtl_course.tasks import get_task
from mtl_course.transfer import L2SP


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    """A backbone made by the real `pretrain` with tiny settings (seconds, not minutes)."""
    folder = tmp_path_factory.mktemp("pretrained")
    setup = PretrainSetup(size=32, n_train=32, n_val=16, epochs=1, batch_size=16)
    return pretrain(setup, out=folder / "unet-course.pt", progress=False), setup


def test_shipped_backbone_matches_its_recorded_hash_and_is_small():
    name, digest = COURSE_BACKBONES["unet"]
    path = pretrained_dir() / name
    assert sha256_of(path) == digest
    assert path.stat().st_size < 5 * 2**20


def test_pretrained_course_loads_the_shipped_encoder_and_records_it():
    model = build_model([get_task("depth")], encoder="unet", pretrained="course")
    scratch = build_model([get_task("depth")], encoder="unet")
    name = "trunk.encoder.stages.0.0.weight"
    assert not torch.equal(model.trunk.encoder.stages[0][0].weight, scratch.trunk.encoder.stages[0][0].weight)
    assert set(model.pretrained_state) == {n for n, _ in model.named_parameters() if n.startswith("trunk.encoder.")}
    assert torch.equal(model.pretrained_state[name], model.trunk.encoder.stages[0][0].weight)
    info = model.backbone_info
    assert info["parts"] == ["encoder"] and tuple(info["setup"]["tasks"]) == ("labels", "families")
    assert info["scores"]["source"]["labels"]["f1"] > 0.6          # it learned its source task
    separate = build_model([get_task("depth"), get_task("edges")], sharing="none", pretrained="course")
    assert all(torch.equal(net.trunk.encoder.stages[0][0].weight, model.trunk.encoder.stages[0][0].weight)
               for net in (head.net for head in separate.heads.values()))


def test_a_changed_file_fails_the_hash_check(tmp_path, monkeypatch):
    name, digest = COURSE_BACKBONES["unet"]
    copy = tmp_path / name
    shutil.copy(pretrained_dir() / name, copy)
    with open(copy, "ab") as f:
        f.write(b"x")
    with pytest.raises(CorruptFileError, match="SHA-256.*git checkout mtl_course/assets"):
        load_backbone(build_model([get_task("depth")]), copy, sha256=digest)
    with pytest.raises(FileNotFoundError, match="python -m mtl_course pretrain"):
        load_backbone(build_model([get_task("depth")]), tmp_path / "missing.pt", sha256=digest)


def test_a_file_for_another_architecture_names_both(tiny_backbone):
    path, _ = tiny_backbone
    with pytest.raises(ValueError, match="encoder 'unet', but this model's encoder is 'resnet18'"):
        load_backbone(build_model([get_task("depth")], encoder="resnet18"), path)
    with pytest.raises(ValueError, match="for encoder \\['unet'\\] only.*resnet18"):
        build_model([get_task("depth")], encoder="resnet18", pretrained="course")


def test_pretrain_is_deterministic_and_learns_its_source_tasks(tiny_backbone, tmp_path):
    path, setup = tiny_backbone
    again = pretrain(setup, out=tmp_path / "again.pt", progress=False)
    assert sha256_of(again) == sha256_of(path)                  # byte for byte
    model = load_backbone(build_model([get_task("semseg", num_classes=6)]), path)
    assert model.backbone_info["setup"]["n_train"] == 32
    assert L2SP(model)(model).item() == pytest.approx(1e-4 / 2 * sum(
        p.square().sum().item() for n, p in model.named_parameters() if not n.startswith("trunk.encoder.")), rel=1e-4)


def test_families_are_round_and_angular_shapes():
    from mtl_course.data import CLASSES
    round_shapes = [c for c, f in zip(CLASSES, FAMILY_OF_CLASS.tolist()) if f == 1]
    angular = [c for c, f in zip(CLASSES, FAMILY_OF_CLASS.tolist()) if f == 2]
    assert round_shapes == ["disc", "ring"] and angular == ["box", "triangle", "star"]


def test_best_pretrained_prefers_imagenet_weights_on_disk(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert best_pretrained() == ("unet", "course")
    assert "no ImageNet weights" in capsys.readouterr().out
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"")
    assert best_pretrained(verbose=False) == ("resnet18", "imagenet")


def test_your_own_backbone_folder_replaces_the_shipped_one(tiny_backbone, monkeypatch):
    path, _ = tiny_backbone
    monkeypatch.setenv("MTL_COURSE_PRETRAINED", str(path.parent))
    model = build_model([get_task("depth")], pretrained="course")
    assert model.backbone_info["setup"]["n_train"] == 32          # the tiny one, not the shipped one


def test_transfer_study_rejects_a_name_for_a_recipe_and_bad_budgets():
    data = ({"image": torch.zeros(8, 3, 32, 32)}, {"image": torch.zeros(4, 3, 32, 32)})
    with pytest.raises(TypeError, match="recipe must be one of the recipe functions.*fine_tuning"):
        run("fine-tuning", 8, TransferSetup(), data)
    with pytest.raises(ValueError, match="budget must be between 1 and the 8 training images"):
        run(fine_tuning, 16, TransferSetup(), data)

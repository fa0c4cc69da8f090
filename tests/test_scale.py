"""Every lesson's two presets (mtl_course.lessons.scale): laptop = what the lesson ran before presets existed,
gpu = larger; which one a lesson picks, and why it says so."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from mtl_course.lessons import LESSON_SETUP, SHARING_SETUP, LessonSetup, TransferSetup
from mtl_course.lessons import scale
from mtl_course.lessons.deploy import DEPLOY_SETUP
from mtl_course.lessons.instances import INSTANCE_SETUP
from mtl_course.lessons.own_data import OWN_DATA
from mtl_course.lessons.scale import PRESETS, SCALE_ENV, lesson_setup

LAPTOP = {"01": LESSON_SETUP, "02": LESSON_SETUP, "03": LessonSetup(size=32, n_train=256, n_val=128, epochs=5),
          "04": LessonSetup(size=32, n_train=192, n_val=128, epochs=5), "05": TransferSetup(), "06": SHARING_SETUP,
          "07": INSTANCE_SETUP, "08": OWN_DATA, "09": DEPLOY_SETUP}


def images_trained(setup) -> int:
    """Training images seen: optimiser steps x batch size."""
    if isinstance(setup, TransferSetup):
        return setup.steps * setup.batch_size
    return setup.n_train // setup.batch_size * setup.batch_size * setup.epochs


def pixels(setup) -> int:
    size = setup.size
    return size[0] * size[1] if isinstance(size, tuple) else size * size


@pytest.mark.parametrize("lesson", sorted(LAPTOP))
def test_laptop_presets_are_what_the_lessons_ran_and_gpu_presets_are_larger(lesson):
    assert PRESETS[lesson]["laptop"] == LAPTOP[lesson]
    laptop, gpu = PRESETS[lesson]["laptop"], PRESETS[lesson]["gpu"]
    assert type(gpu) is type(laptop)
    sizes = gpu.size if isinstance(gpu.size, tuple) else (gpu.size,)
    assert all(s % 16 == 0 and 96 <= s <= 128 for s in sizes)                # 96-128 px, multiples of 16
    assert 4 <= images_trained(gpu) / images_trained(laptop) <= 16                 # 4-16x the scenes and steps
    assert pixels(gpu) > pixels(laptop)
    if isinstance(gpu, TransferSetup):                                        # each budget divides the images seen
        assert all(gpu.steps * gpu.batch_size % b == 0 for b in gpu.budgets)


def test_a_cpu_runs_the_laptop_preset_and_says_how_to_ask_for_the_other(monkeypatch, capsys):
    monkeypatch.delenv(SCALE_ENV, raising=False)
    monkeypatch.setattr(scale, "get_device", lambda: torch.device("cpu"))
    assert lesson_setup("03") == LAPTOP["03"]
    out = capsys.readouterr().out
    assert 'runs its "laptop" preset' in out and "no CUDA GPU" in out and "lesson_setup('03', 'gpu')" in out
    assert "size=32" in out and "n_train=256" in out


def test_a_gpu_runs_the_gpu_preset_only_for_verified_lessons(monkeypatch, capsys):
    monkeypatch.delenv(SCALE_ENV, raising=False)
    monkeypatch.setattr(scale, "get_device", lambda: torch.device("cuda"))
    assert lesson_setup("02") == PRESETS["02"]["laptop"]
    assert "not been checked at the gpu size" in capsys.readouterr().out
    monkeypatch.setattr(scale, "GPU_VERIFIED", frozenset({"02"}))
    assert lesson_setup("02") == PRESETS["02"]["gpu"]
    assert 'runs its "gpu" preset' in (out := capsys.readouterr().out) and "(a CUDA GPU is here)" in out


def test_the_environment_and_the_argument_choose_and_bad_names_are_refused(monkeypatch):
    monkeypatch.setenv(SCALE_ENV, "gpu")
    assert lesson_setup("05", verbose=False) == PRESETS["05"]["gpu"]
    assert lesson_setup("05", "laptop", verbose=False) == PRESETS["05"]["laptop"]
    monkeypatch.setenv(SCALE_ENV, "big")
    with pytest.raises(ValueError, match="MTL_COURSE_SCALE='big' is not a scale"):
        lesson_setup("05")
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        lesson_setup("05", "huge")
    with pytest.raises(ValueError, match=r"no presets for lesson '00'"):
        lesson_setup("00")
    assert set(asdict(PRESETS["08"]["gpu"])) == set(asdict(OWN_DATA))

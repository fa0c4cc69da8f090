import pytest
import torch

import mtl_course as mc


def test_explicit_and_environment_choice(monkeypatch):
    assert mc.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("MTL_COURSE_DEVICE", "cpu")
    assert mc.get_device() == torch.device("cpu")


def test_unknown_device_name():
    with pytest.raises(ValueError, match="not a device name"):
        mc.get_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_no_silent_fallback_from_cuda(monkeypatch):
    monkeypatch.setenv("MTL_COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        mc.get_device()


def test_seed_everything_repeats_random_draws():
    mc.seed_everything(5)
    first = torch.rand(3)
    mc.seed_everything(5)
    assert torch.equal(first, torch.rand(3))
    with pytest.raises(TypeError):
        mc.seed_everything(1.5)


def test_a_torch_device_is_accepted_as_it_is(monkeypatch):
    monkeypatch.setenv("MTL_COURSE_DEVICE", "cuda")          # an explicit device wins over the environment
    assert mc.get_device(torch.device("cpu")) == torch.device("cpu")

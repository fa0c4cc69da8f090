import time
from urllib.error import URLError

import pytest
import torch
import torchvision

import mtl_course as mc
from mtl_course.models import build_model, count_parameters
from mtl_course.models import build as build_module
from mtl_course.tasks import get_task


@pytest.mark.parametrize("encoder", ["unet", "resnet18"])
@pytest.mark.parametrize("sharing, branch", [("hard", "head"), ("hard", "decoder"), ("none", "head")])
def test_full_resolution_outputs_for_every_task(all_tasks, encoder, sharing, branch):
    model = build_model(all_tasks, encoder=encoder, sharing=sharing, branch=branch)
    x = torch.rand(2, 3, 32, 48)                 # not square on purpose
    outputs = model(x)
    assert list(outputs) == [t.name for t in all_tasks]
    for task in all_tasks:
        expected = (2, task.out_channels, 32, 48) if task.dense else (2, task.out_channels)
        assert tuple(outputs[task.name].shape) == expected, task.name


def test_parameter_counts_follow_the_sharing(all_tasks):
    dense = all_tasks[:4]
    shared = count_parameters(build_model(dense, sharing="hard"))
    per_task_decoders = count_parameters(build_model(dense, sharing="hard", branch="decoder"))
    separate = count_parameters(build_model(dense, sharing="none"))
    singles = sum(count_parameters(build_model([t])) for t in dense)
    assert separate == singles                    # "none" is exactly one network per task
    assert shared < per_task_decoders < separate
    assert shared < 0.3 * separate                # ~1/T of the parameters


@pytest.mark.parametrize("sharing", ["hard", "none", "attention", "cross_stitch"])
def test_width_scales_every_layer_and_survives_a_checkpoint(all_tasks, sharing, tmp_path):
    full = build_model(all_tasks, sharing=sharing, seed=0)
    half = build_model(all_tasks, sharing=sharing, seed=0, width=0.5)
    def convolutions(model):
        """(conv, is it in a DenseHead?) for every convolution."""
        in_head = {id(c) for m in model.modules() if isinstance(m, build_module.DenseHead) for c in m.modules()}
        return [(m, id(m) in in_head) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]

    convs, half_convs = convolutions(full), convolutions(half)
    assert len(convs) == len(half_convs)          # the same layers, each narrower
    for (wide, head), (narrow, _) in zip(convs, half_convs):
        if head:                                  # a head reads the narrower features, keeps its 16 hidden channels
            assert narrow.out_channels == wide.out_channels and narrow.in_channels in (wide.in_channels // 2, 16)
            continue
        in_ch = 3 if wide.in_channels == 3 else wide.in_channels // 2
        assert (narrow.in_channels, narrow.out_channels) == (in_ch, wide.out_channels // 2), narrow
    assert 0.2 < count_parameters(half) / count_parameters(full) < 0.3     # ~ width^2 of the weights
    outputs = half(torch.rand(2, 3, 32, 48))
    assert {k: v.shape[1:] for k, v in outputs.items()} == {k: v.shape[1:] for k, v in full(torch.rand(2, 3, 32, 48)).items()}
    loaded = mc.train.load_checkpoint(mc.train.save_checkpoint(half, tmp_path / "half.pt"))
    assert loaded.config["width"] == 0.5 and count_parameters(loaded) == count_parameters(half)


@pytest.mark.parametrize("kwargs, phrase", [({"width": 0}, "in \\(0, 4\\]"), ({"width": "half"}, "in \\(0, 4\\]"),
                                            ({"width": 0.5, "encoder": "resnet18"}, "only for encoder='unet'"),
                                            ({"width": 0.5, "pretrained": "course"}, "only for encoder='unet'")])
def test_bad_widths_say_what_width_is(all_tasks, kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        build_model(all_tasks[:1], **kwargs)


def test_count_trainable_only(all_tasks):
    model = build_model(all_tasks[:1])
    for p in model.trunk.encoder.parameters():
        p.requires_grad = False
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - count_parameters(model.trunk.encoder)


def test_hard_sharing_shares_the_encoder_gradient(all_tasks):
    model = build_model(all_tasks[:2])
    out = model(torch.rand(1, 3, 32, 32))
    out["depth"].sum().backward()
    assert model.trunk.encoder.stages[0][0].weight.grad is not None
    assert model.heads["semseg"].layers[0].weight.grad is None


@pytest.mark.parametrize("kwargs, phrase", [
    ({"encoder": "vgg"}, r"unknown encoder 'vgg'; valid values are \['unet', 'resnet18'\]"),
    ({"sharing": "soft"}, r"unknown sharing 'soft'; valid values are \['hard', 'none', 'cross_stitch', 'attention'\]"),
    ({"branch": "neck"}, "unknown branch"),
    ({"pretrained": "coco"}, "unknown pretrained"),
    ({"pretrained": "imagenet"}, "only for encoder='resnet18'"),
])
def test_bad_names_list_the_valid_ones(all_tasks, kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        build_model(all_tasks, **kwargs)


def test_duplicate_or_empty_tasks(all_tasks):
    with pytest.raises(ValueError, match="at least one task"):
        build_model([])
    with pytest.raises(ValueError, match="once"):
        build_model([all_tasks[1], all_tasks[1]])


@pytest.mark.parametrize("shape, phrase", [((2, 3, 40, 32), "multiples of 16"), ((2, 3, 16, 16), "at least 32"),
                                           ((3, 32, 32), "unsqueeze"), ((2, 1, 32, 32), r"\[B, 3, H, W\]")])
def test_bad_image_batches(all_tasks, shape, phrase):
    model = build_model(all_tasks[:1])
    with pytest.raises(ValueError, match=phrase):
        model(torch.rand(*shape))


def test_imagenet_offline_fails_fast_and_says_where_the_file_goes(all_tasks, monkeypatch):
    def offline(self, *args, **kwargs):
        raise URLError("Name or service not known")
    monkeypatch.setattr(torchvision.models.ResNet18_Weights, "get_state_dict", offline)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="resnet18-f37072fd.pth") as err:
        build_model(all_tasks[:1], encoder="resnet18", pretrained="imagenet")
    assert time.perf_counter() - start < 1.0
    assert "checkpoints" in str(err.value) and "pretrained=None" in str(err.value)


def test_imagenet_weights_are_loaded_into_the_encoder(all_tasks, monkeypatch):
    reference = torchvision.models.resnet18(weights=None)
    state = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in reference.state_dict().items()}
    monkeypatch.setattr(torchvision.models.ResNet18_Weights, "get_state_dict", lambda self, *a, **k: state)
    model = build_model(all_tasks[:1], encoder="resnet18", pretrained="imagenet")
    assert torch.all(model.trunk.encoder.layer3[0].conv1.weight == 0.5)
    assert model.config["pretrained"] == "imagenet"


def test_build_model_accepts_task_names_without_arguments():
    model = build_model(["depth", "edges"])
    assert model.task_names == ["depth", "edges"]
    assert build_module.FEATURE_CHANNELS == model.heads["depth"].layers[0].in_channels


def test_the_model_is_a_trunk_and_heads(all_tasks, batch):
    from mtl_course.models import DenseHead, Features, ImageHead, MultiTaskNet, Trunk
    mc.seed_everything(0)
    model = build_model(all_tasks)
    assert isinstance(model, MultiTaskNet) and isinstance(model.trunk, Trunk)
    assert isinstance(model.heads["semseg"], DenseHead) and isinstance(model.heads["labels"], ImageHead)
    x = batch["image"][:2]
    model.eval()                                                 # BatchNorm on running statistics: repeatable
    shared = model.trunk(x)
    assert isinstance(shared, Features) and shared.dense.shape == (2, 16, 32, 32)
    assert shared.coarse is shared.pyramid[-1] and shared.coarse.shape == (2, 128, 2, 2)
    by_hand = {name: head(shared) for name, head in model.heads.items()}
    assert all(torch.equal(by_hand[name], out) for name, out in model(x).items())
    shared_ids = {id(p) for p in model.shared_parameters()}
    task_ids = {id(p) for p in model.task_parameters()}
    assert shared_ids == {id(p) for p in model.trunk.parameters()} and not shared_ids & task_ids
    assert shared_ids | task_ids == {id(p) for p in model.parameters()}


def test_where_the_tasks_branch_is_what_goes_into_the_trunk(all_tasks):
    from mtl_course.models import DecoderHead, OwnNetwork
    per_task = build_model(all_tasks, branch="decoder")
    assert per_task.trunk.decoder is None
    assert [name for name, head in per_task.heads.items() if isinstance(head, DecoderHead)] == \
        ["semseg", "depth", "edges", "normals"]                    # the image-level labels head needs no decoder
    separate = build_model(all_tasks, sharing="none")
    assert isinstance(separate.trunk, torch.nn.Identity) and separate.shared_parameters() == []
    assert all(isinstance(head, OwnNetwork) for head in separate.heads.values())


def test_frozen_batchnorm_stays_in_eval_mode_under_train():
    model = build_model([get_task("depth")])
    bn = model.trunk.encoder.stages[0][1]
    bn.weight.requires_grad_(False)
    assert model.train().training and bn.training                # only its weight is frozen, not its bias
    bn.bias.requires_grad_(False)
    model.train()
    assert bn.weight.requires_grad is False and not bn.training  # frozen BatchNorm keeps its statistics
    assert model.trunk.encoder.stages[0][4].training             # the next, unfrozen one follows model.train()

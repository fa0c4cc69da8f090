"""Beyond hard sharing: cross-stitch units, task attention (MTAN-style), the cross-task consistency loss, count_macs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtl_course._io import load_verified
from mtl_course.data import SyntheticScenes
from mtl_course.data.render import boundaries
from mtl_course.models import (CrossStitchTrunk, CrossStitchUnit, Features, Trunk, UNetEncoder, build_model,
                               count_macs, count_parameters)
from mtl_course.models.pretrained import COURSE_BACKBONES, pretrained_dir
from mtl_course.tasks import get_task, soft_boundaries
from mtl_course.train import evaluate, fit, gradient_step, load_checkpoint, plain_step, save_checkpoint
from mtl_course.weighting import WEIGHTINGS, GradientWeighting, get_weighting

SOFT = ["cross_stitch", "attention"]


@pytest.fixture(scope="module")
def tiny() -> dict:
    """8 scenes of 32x32: two steps of batch 4, enough to see a fit run and move the weights."""
    return SyntheticScenes(n=8, size=32, seed=5, cache=False).tensors()


def tasks3():
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("labels", num_classes=6)]


class PlainSum(GradientWeighting):
    """alpha = 1 for every task: the combined gradient must be the plain backward of the summed losses."""

    name = "plain-sum"

    def gram_weights(self, gram, losses):
        return torch.ones(gram.shape[0], dtype=gram.dtype)


# --- cross-stitch ------------------------------------------------------------------------------------------------
def test_cross_stitch_unit_starts_near_identity_and_mixes_rows_as_readers():
    assert torch.allclose(CrossStitchUnit(3).alpha, torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05],
                                                                  [0.05, 0.05, 0.9]]))
    assert torch.equal(CrossStitchUnit(1).alpha.detach(), torch.ones(1, 1))    # one task: its own network
    unit = CrossStitchUnit(2)
    with torch.no_grad():
        unit.alpha.copy_(torch.tensor([[0.7, 0.3], [0.2, 0.8]]))        # not symmetric: a transpose shows
    a, b = torch.full((1, 2, 3, 3), 1.0), torch.full((1, 2, 3, 3), 10.0)
    mixed = unit([a, b])
    assert torch.allclose(mixed[0], torch.full_like(a, 0.7 + 3.0)) and torch.allclose(mixed[1], torch.full_like(a, 8.2))


def test_cross_stitch_at_the_identity_is_independent_networks_and_otherwise_mixes():
    tasks = tasks3()
    model = build_model(tasks, sharing="cross_stitch", seed=0).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        for unit in model.trunk.units:
            unit.alpha.copy_(torch.eye(3))
        mixed = model(x)
        for task in tasks:                       # each task's own encoder, decoder and head, nothing else
            alone = model.heads[task.name].head(Features((32, 32), model.trunk.encoders[task.name](x)))
            assert torch.equal(mixed[task.name], alone), task.name
        for p in model.trunk.encoders["depth"].parameters():       # another task's encoder changes ...
            p.add_(0.1)
        assert torch.equal(model(x)["semseg"], mixed["semseg"])    # ... nothing for semseg at the identity
        model.trunk.units[2].alpha.copy_(torch.tensor([[0.9, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
        assert not torch.allclose(model(x)["semseg"], mixed["semseg"], atol=1e-4)   # mixing at stage 2 reaches it
        assert torch.equal(model(x)["labels"], mixed["labels"])    # labels still mixes nothing in


def test_mixing_weights_one_matrix_per_stage_detached():
    model = build_model(tasks3(), sharing="cross_stitch", seed=0)
    weights = model.trunk.mixing_weights()
    assert model.trunk.tasks == ["semseg", "depth", "labels"]
    assert len(weights) == 5 and all(w.shape == (3, 3) and not w.requires_grad for w in weights)
    weights[0].zero_()
    assert model.trunk.units[0].alpha[0, 0].item() == pytest.approx(0.9)   # a copy: drawing it changes nothing


def test_every_task_loss_reaches_every_cross_stitch_encoder_but_not_other_heads():
    model = build_model(tasks3(), sharing="cross_stitch", seed=0)
    model(torch.rand(2, 3, 32, 32))["depth"].sum().backward()
    for name, encoder in model.trunk.encoders.items():
        assert encoder.stages[0][0].weight.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in model.heads["semseg"].parameters())


# --- attention ---------------------------------------------------------------------------------------------------
def test_attention_mask_of_ones_gives_the_plain_shared_features():
    model = build_model(tasks3(), sharing="attention", seed=0).eval()
    x = torch.rand(2, 3, 32, 32)
    head = model.heads["depth"]
    with torch.no_grad():
        shared = model.trunk(x)
        masks = head.masks(shared)
        assert [tuple(m.shape) for m in masks] == [(2, c, 32 // s, 32 // s) for c, s in
                                                   zip((16, 32, 64, 128, 128), (1, 2, 4, 8, 16))]
        assert all(0 < float(m.min()) and float(m.max()) < 1 for m in masks)
        assert not torch.allclose(model(x)["depth"], head.path(shared), atol=1e-4)   # random masks: another view
        for block in head.blocks:                # last 1x1 conv: weight 0, bias 100 -> sigmoid = 1 exactly
            block[3].weight.zero_()
            block[3].bias.fill_(100.0)
        attended, ones = head.attend(shared)
        assert all(torch.equal(m, torch.ones_like(m)) for m in ones)
        assert all(torch.equal(a, s) for a, s in zip(attended.pyramid, shared.pyramid))
        assert torch.equal(model(x)["depth"], head.path(shared))


def test_each_attention_mask_reads_what_the_task_attended_to_before():
    model = build_model(tasks3()[:2], sharing="attention", seed=0).eval()
    with torch.no_grad():
        shared = model.trunk(torch.rand(2, 3, 32, 32))
        semseg, depth = model.heads["semseg"], model.heads["depth"]
        before = semseg.masks(shared)
        assert not torch.allclose(before[1], depth.masks(shared)[1])      # each task its own masks
        semseg.blocks[0][3].bias.add_(1.0)                                # change stage 0's mask only ...
        after = semseg.masks(shared)
        assert not torch.allclose(after[1], before[1])                    # ... and stage 1's mask changes too
        assert semseg.blocks[1][0].in_channels == 32 + 16


# --- both: shapes, what is shared, trainer, checkpoints, seeds, pretrained -----------------------------------------
@pytest.mark.parametrize("sharing", SOFT)
def test_outputs_for_every_task_kind(all_tasks, sharing):
    model = build_model(all_tasks, sharing=sharing, seed=0)
    outputs = model(torch.rand(2, 3, 32, 48))
    assert list(outputs) == [t.name for t in all_tasks]
    for task in all_tasks:
        expected = (2, task.out_channels, 32, 48) if task.dense else (2, task.out_channels)
        assert tuple(outputs[task.name].shape) == expected, task.name
    assert model.config["branch"] == "decoder"


@pytest.mark.parametrize("sharing", SOFT)
def test_resnet18_encoder(sharing):
    tasks = [get_task("edges"), get_task("labels", num_classes=6)]
    outputs = build_model(tasks, encoder="resnet18", sharing=sharing, seed=0)(torch.rand(2, 3, 32, 32))
    assert outputs["edges"].shape == (2, 1, 32, 32) and outputs["labels"].shape == (2, 5)


def test_what_each_architecture_shares():
    tasks = tasks3()
    attention = build_model(tasks, sharing="attention", seed=0)
    assert isinstance(attention.trunk, Trunk) and attention.trunk.decoder is None and attention.shared_features
    assert {id(p) for p in attention.shared_parameters()} == {id(p) for p in attention.trunk.encoder.parameters()}
    masks = {id(p) for head in attention.heads.values() for p in head.blocks.parameters()}
    assert masks and masks <= {id(p) for p in attention.task_parameters()}
    stitched = build_model(tasks, sharing="cross_stitch", seed=0)
    assert isinstance(stitched.trunk, CrossStitchTrunk) and not stitched.shared_features
    expected = [p for e in stitched.trunk.encoders.values() for p in e.parameters()] + \
        [u.alpha for u in stitched.trunk.units]
    assert {id(p) for p in stitched.shared_parameters()} == {id(p) for p in expected}
    assert len(stitched.shared_parameters()) == len(expected)
    assert count_parameters(stitched.trunk) == 3 * count_parameters(UNetEncoder()) + 5 * 9


@pytest.mark.parametrize("sharing, level", [("attention", "params"), ("attention", "features"),
                                            ("cross_stitch", "params")])
def test_gradient_step_with_unit_weights_is_the_plain_backward(batch, sharing, level):
    """The per-task gradient path means the same as the plain one: weights of one give the summed-loss gradient."""
    tasks = tasks3()
    four = {k: v[:4] for k, v in batch.items()}
    grads = []
    for strategy, step in ((get_weighting("equal"), plain_step), (PlainSum(), gradient_step)):
        model = build_model(tasks, sharing=sharing, seed=0)
        strategy.setup([t.name for t in tasks])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        step(model, tasks, four, strategy, optimizer, *([level] if step is gradient_step else []))
        grads.append({name: p.grad for name, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name, plain in grads[0].items():
        assert torch.allclose(plain, grads[1][name], rtol=1e-4, atol=1e-6), name


@pytest.mark.parametrize("sharing, level", [("attention", "params"), ("attention", "features"),
                                            ("cross_stitch", "params")])
def test_pcgrad_trains_each_architecture(tiny, sharing, level):
    tasks = tasks3()
    model = build_model(tasks, sharing=sharing, seed=0)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    history = fit(model, tasks, tiny, epochs=1, batch_size=4, weighting="pcgrad", grad_level=level,
                  progress=False, device="cpu")
    assert set(history.grad_cosine) == {"semseg/depth", "semseg/labels", "depth/labels"}
    assert all(-1 <= v[0] <= 1 for v in history.grad_cosine.values())
    moved = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])]
    assert any(name.startswith("trunk.") for name in moved) and any(name.startswith("heads.") for name in moved)


def test_cross_stitch_refuses_feature_level_gradients(tiny):
    tasks = tasks3()[:2]
    model = build_model(tasks, sharing="cross_stitch", seed=0)
    with pytest.raises(ValueError, match="grad_level='features'.*own task's features.*grad_level='params'"):
        fit(model, tasks, tiny, epochs=1, weighting="mgda", grad_level="features", progress=False, device="cpu")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with pytest.raises(ValueError, match="cross_stitch"):
        gradient_step(model, tasks, tiny, get_weighting("pcgrad"), optimizer, "features")


@pytest.mark.parametrize("sharing", SOFT)
@pytest.mark.parametrize("weighting", sorted(WEIGHTINGS))
def test_fit_under_every_weighting(tiny, sharing, weighting):
    tasks = [get_task("semseg", num_classes=6), get_task("depth")]
    chosen = {"semseg": 1.0, "depth": 0.5} if weighting == "fixed" else weighting
    model = build_model(tasks, sharing=sharing, seed=0)
    history = fit(model, tasks, tiny, epochs=1, batch_size=4, weighting=chosen, progress=False, device="cpu")
    assert all(len(history.train_loss[t.name]) == 1 and history.train_loss[t.name][0] > 0 for t in tasks)


@pytest.mark.parametrize("sharing", SOFT)
def test_checkpoint_rebuilds_the_architecture(tiny, sharing, tmp_path):
    tasks = tasks3()
    model = build_model(tasks, sharing=sharing, seed=0)
    fit(model, tasks, tiny, epochs=1, batch_size=4, progress=False, device="cpu")
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt"))
    assert loaded.config == model.config and type(loaded.trunk) is type(model.trunk)
    x = tiny["image"][:2]
    model.eval(), loaded.eval()
    with torch.no_grad():
        for name, out in model(x).items():
            assert torch.allclose(out, loaded(x)[name], atol=1e-5), name
    if sharing == "cross_stitch":       # the trained mixing weights came back, not the initial ones
        trained = model.trunk.mixing_weights()
        assert not torch.allclose(trained[0], CrossStitchUnit(3).alpha.detach())
        assert all(torch.equal(a, b) for a, b in zip(trained, loaded.trunk.mixing_weights()))


@pytest.mark.parametrize("sharing", SOFT)
def test_seed_fixes_the_initial_weights(sharing):
    tasks = tasks3()[:2]
    first, second, other = (build_model(tasks, sharing=sharing, seed=s).state_dict() for s in (3, 3, 4))
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("sharing", SOFT)
def test_course_backbone_goes_into_every_encoder(sharing):
    model = build_model(tasks3()[:2], sharing=sharing, pretrained="course")
    state = load_verified(pretrained_dir() / COURSE_BACKBONES["unet"][0])["state_dict"]
    encoders = [m for m in model.modules() if isinstance(m, UNetEncoder)]
    assert len(encoders) == (2 if sharing == "cross_stitch" else 1)
    for encoder in encoders:
        for name, value in encoder.state_dict().items():
            assert torch.equal(value, state[f"encoder.{name}"]), name
    assert len(model.pretrained_state) == sum(len(list(e.parameters())) for e in encoders)


@pytest.mark.parametrize("kwargs, phrase", [
    ({"sharing": "attention", "branch": "head"}, "branch='head'.*only for sharing='hard'"),
    ({"sharing": "cross_stitch", "branch": "head"}, "gives every task its own decoder"),
    ({"sharing": "cross_stitch", "pretrained": "imagenet"}, "only for encoder='resnet18'"),
    ({"sharing": "stitch"}, r"valid values are \['hard', 'none', 'cross_stitch', 'attention'\]"),
])
def test_bad_combinations_say_what_to_do(kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        build_model(tasks3(), **kwargs)


# --- count_macs --------------------------------------------------------------------------------------------------
def test_count_macs_by_hand():
    tiny = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
    conv = 4 * 8 * 8 * (3 * 3 * 3)             # an output value per channel and pixel, 27 multiply-adds each
    assert count_macs(tiny, 8) == conv + 4 * 8 * 8 * 5 == 8192
    assert count_macs(tiny, (8, 8)) == 8192 and tiny.training               # the train/eval mode is restored


def test_count_macs_grows_with_the_image_and_the_architecture():
    dense = [get_task("semseg", num_classes=6), get_task("depth")]
    hard = build_model(dense, seed=0)
    assert count_macs(hard, 64) == 4 * count_macs(hard, 32)                 # all convolutions: per pixel
    assert count_macs(hard, (32, 64)) == 2 * count_macs(hard, 32)
    encoder_macs = count_macs(UNetEncoder(), 32)
    stitched = count_macs(build_model(dense, sharing="cross_stitch", seed=0), 32)
    attention = count_macs(build_model(dense, sharing="attention", seed=0), 32)
    per_task = count_macs(build_model(dense, branch="decoder", seed=0), 32)   # shared encoder, own decoders
    assert stitched == per_task + encoder_macs                # a second encoder; the mixing is not counted
    assert per_task < attention < stitched                    # the masks' 1x1 convolutions cost a little


# --- cross-task consistency ---------------------------------------------------------------------------------------
def square_scene(size: int = 8) -> torch.Tensor:
    labels = torch.zeros(1, size, size, dtype=torch.long)
    labels[0, 2:5, 3:6] = 2
    labels[0, 5:7, 3:5] = 1                    # touches the first object: a class-to-class boundary
    return labels


def test_soft_boundaries_of_a_hard_segmentation_are_the_datas_edge_rule():
    labels = square_scene()
    one_hot = nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    assert torch.equal(soft_boundaries(one_hot)[:, 0], boundaries(labels))
    uncertain = torch.full((1, 3, 8, 8), 1 / 3)
    assert float(soft_boundaries(uncertain).abs().max()) == 0.0         # unsure everywhere, but no change
    half = 0.5 * one_hot + 0.5 / 3                                       # half as sure: half a boundary
    assert torch.allclose(soft_boundaries(half)[:, 0], 0.5 * boundaries(labels))


def test_consistency_is_zero_when_predictions_agree_and_grows_with_disagreement():
    labels = square_scene()
    semseg_logits = 40.0 * nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    edge = boundaries(labels)[:, None]                                   # [1, 1, 8, 8]
    consistency = get_task("consistency", between=("edges", "semseg"))
    agree = consistency.loss(40.0 * (2 * edge - 1), semseg_logits)
    assert float(agree) < 1e-12
    n_edge = int(edge.sum())
    none = consistency.loss(torch.full_like(edge, -40.0), semseg_logits)   # no edge predicted anywhere
    everywhere = consistency.loss(torch.full_like(edge, 40.0), semseg_logits)
    assert float(none) == pytest.approx(n_edge / 64) and float(everywhere) == pytest.approx(1 - n_edge / 64)
    half = get_task("consistency", between=("edges", "semseg"), weight=0.5)
    assert float(half.loss(torch.full_like(edge, -40.0), semseg_logits)) == pytest.approx(0.5 * n_edge / 64)
    assert consistency.metrics(torch.full_like(edge, -40.0), semseg_logits) == {
        "disagreement": pytest.approx(n_edge / 64)}


def test_consistency_gradient_reaches_both_heads():
    tasks = [get_task("semseg", num_classes=6), get_task("edges"), get_task("depth")]
    model = build_model(tasks, seed=0)
    consistency = get_task("consistency", between=("edges", "semseg"))
    outputs = model(torch.rand(2, 3, 32, 32))
    consistency.loss(*consistency.inputs(outputs, {})).backward()
    for name in ("semseg", "edges"):
        assert float(model.heads[name].layers[0].weight.grad.abs().sum()) > 0, name
    assert all(p.grad is None for p in model.heads["depth"].parameters())


def test_fit_trains_with_the_consistency_pseudo_task(tiny):
    tasks = [get_task("semseg", num_classes=6), get_task("edges")]
    runs = {}
    for weight in (0.0, 1.0):
        consistency = get_task("consistency", between=("edges", "semseg"), weight=weight)
        model = build_model(tasks, seed=0)
        runs[weight] = fit(model, [*tasks, consistency], tiny, tiny if weight else None, epochs=1, batch_size=4,
                           progress=False, device="cpu")
    alone = fit(build_model(tasks, seed=0), tasks, tiny, epochs=1, batch_size=4, progress=False, device="cpu")
    assert runs[0.0].train_loss["semseg"] == alone.train_loss["semseg"]       # weight 0: training unchanged
    assert runs[1.0].train_loss["semseg"] != alone.train_loss["semseg"]
    assert runs[0.0].train_loss["consistency"] == [0.0] and runs[1.0].train_loss["consistency"][0] > 0
    scores = evaluate(model, [*tasks, consistency], tiny)
    assert runs[1.0].val_metrics["consistency"]["disagreement"] == [scores["consistency"]["disagreement"]]


def test_train_model_builds_heads_for_the_real_tasks_and_trains_the_consistency_loss():
    from mtl_course.lessons import SHARING_VARIANTS, LessonSetup, lesson_task, train_model
    setup = LessonSetup(size=32, n_train=8, n_val=8, epochs=1, batch_size=4, seed=2)
    data = (SyntheticScenes(n=8, size=32, seed=5, cache=False).tensors(), None)
    tasks = [lesson_task("semseg"), lesson_task("edges")]
    consistency = get_task("consistency", weight=1.0)
    model, history = train_model([*tasks, consistency], setup, progress=False, data=data, **SHARING_VARIANTS["hard"])
    assert sorted(model.heads) == ["edges", "semseg"]
    assert history.train_loss["consistency"][0] > 0
    plain, _ = train_model(tasks, setup, progress=False, data=data, **SHARING_VARIANTS["hard"])
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), plain.parameters()))


def test_consistency_under_a_gradient_method_is_a_row_of_g(tiny):
    tasks = [get_task("semseg", num_classes=6), get_task("edges")]
    consistency = get_task("consistency", between=("edges", "semseg"))
    history = fit(build_model(tasks, sharing="attention", seed=0), [*tasks, consistency], tiny, epochs=1,
                  batch_size=4, weighting="pcgrad", progress=False, device="cpu")
    assert set(history.grad_cosine) == {"semseg/edges", "semseg/consistency", "edges/consistency"}


def test_consistency_bad_uses_say_what_to_do(tiny):
    semseg, edges = get_task("semseg", num_classes=6), get_task("edges")
    consistency = get_task("consistency", between=("edges", "semseg"))
    with pytest.raises(ValueError, match="not a task the model predicts.*edges, semseg"):
        build_model([semseg, edges, consistency])
    with pytest.raises(ValueError, match=r"no output for task\(s\) \['edges'\]"):
        fit(build_model([semseg]), [semseg, consistency], tiny, epochs=1, progress=False)
    swapped = get_task("consistency", between=("semseg", "edges"))
    with pytest.raises(ValueError, match=r"edge task first: between=\('edges', 'semseg'\)"):
        swapped.loss(torch.zeros(2, 6, 8, 8), torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="two different tasks"):
        get_task("consistency", between="edges")
    with pytest.raises(ValueError, match="weight must be a number >= 0"):
        get_task("consistency", weight=-1)
    assert get_task(**consistency.spec()).spec() == consistency.spec()

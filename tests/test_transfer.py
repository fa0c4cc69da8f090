"""Transfer helpers: freezing by stage (BatchNorm included), parameter counts, param groups, L2-SP."""

from __future__ import annotations

import pytest
import torch

import mtl_course as mc
from mtl_course.data import SyntheticScenes
from mtl_course.models import build_model
from mtl_course.models.pretrained import record_pretrained
from mtl_course.tasks import get_task
from mtl_course.train import fit
from mtl_course.transfer import L2SP, freeze, frozen_stages, param_groups, stages, trainable_parameters, unfreeze


def two_task_model(encoder="unet"):
    mc.seed_everything(0)
    return build_model([get_task("depth"), get_task("edges")], encoder=encoder)


def count(modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def test_stage_names_of_both_encoders():
    assert list(stages(two_task_model())) == ["stage0", "stage1", "stage2", "stage3", "stage4", "decoder", "heads"]
    assert list(stages(two_task_model("resnet18"))) == ["stem", "layer1", "layer2", "layer3", "layer4", "decoder",
                                                        "heads"]


def test_freeze_counts_exactly_the_remaining_parameters():
    model = two_task_model("resnet18")
    total = trainable_parameters(model)
    parts = stages(model)
    freeze(model, "stem", "layer1", "layer2")
    assert trainable_parameters(model) == total - count(parts["stem"] + parts["layer1"] + parts["layer2"])
    assert frozen_stages(model) == ["stem", "layer1", "layer2"]
    unfreeze(model, "layer2")
    assert frozen_stages(model) == ["stem", "layer1"]
    assert trainable_parameters(model) == total - count(parts["stem"] + parts["layer1"])


def test_frozen_batchnorm_stays_in_eval_mode_and_keeps_its_statistics(scenes):
    model = two_task_model()
    freeze(model, "stage0")
    bn = stages(model)["stage0"][0][1]
    before = bn.running_mean.clone()
    model.train()
    assert not bn.training and stages(model)["stage1"][0][1].training
    tasks = [get_task("depth"), get_task("edges")]
    fit(model, tasks, scenes, epochs=1, batch_size=8, progress=False, device="cpu")
    assert torch.equal(bn.running_mean, before)
    unfreeze(model, "stage0")
    model.train()
    assert bn.training


def test_frozen_weights_do_not_change_during_fit(scenes):
    model = two_task_model()
    freeze(model, "stage0", "stage1")
    frozen = {k: v.clone() for k, v in model.trunk.encoder.stages[:2].state_dict().items()}
    fit(model, [get_task("depth"), get_task("edges")], scenes, epochs=1, batch_size=8, progress=False, device="cpu")
    after = model.trunk.encoder.stages[:2].state_dict()
    assert all(torch.equal(frozen[k], after[k]) for k in frozen)


def test_param_groups_give_heads_their_own_learning_rate():
    model = two_task_model()
    freeze(model, "stage0")
    groups = param_groups(model, {"heads": 1e-2}, lr=1e-3)
    by_name = {g["name"]: g for g in groups}
    assert by_name["heads"]["lr"] == 1e-2 and by_name["rest"]["lr"] == 1e-3
    assert sum(p.numel() for g in groups for p in g["params"]) == trainable_parameters(model)
    assert sum(p.numel() for p in by_name["heads"]["params"]) == count(stages(model)["heads"])
    torch.optim.AdamW(groups)                             # a valid optimizer argument


def test_unknown_stage_lists_the_valid_ones():
    model = two_task_model()
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['layer1'\]; valid stages are \['stage0'"):
        freeze(model, "layer1")
    with pytest.raises(ValueError, match="unknown stage"):
        param_groups(model, {"head": 1.0}, lr=1e-3)
    with pytest.raises(ValueError, match="sharing='hard'"):
        freeze(build_model([get_task("depth")], sharing="none"), "heads")


def test_l2sp_penalty_by_hand_and_without_pretrained_weights():
    model = two_task_model()
    with pytest.raises(ValueError, match="L2SP needs the pretrained weights.*pretrained='course' or 'imagenet'"):
        L2SP(model)
    record_pretrained(model, [model.trunk.encoder])
    assert set(model.pretrained_state) == {n for n, _ in model.named_parameters() if n.startswith("trunk.encoder.")}
    penalty = L2SP(model, alpha=0.5, beta=0.1)
    new = sum(float(p.detach().square().sum())
              for n, p in model.named_parameters() if not n.startswith("trunk.encoder."))
    assert float(penalty(model).detach()) == pytest.approx(0.1 / 2 * new, rel=1e-5)     # encoder still at its start
    with torch.no_grad():
        model.trunk.encoder.stages[0][0].weight.add_(0.1)
    moved = 0.1 ** 2 * model.trunk.encoder.stages[0][0].weight.numel()
    assert float(penalty(model).detach()) == pytest.approx(0.5 / 2 * moved + 0.1 / 2 * new, rel=1e-5)


def test_fit_with_l2sp_stays_closer_to_the_start(scenes):
    tasks = [get_task("depth"), get_task("edges")]
    distances = []
    for alpha in (0.0, 10.0):
        model = two_task_model()
        record_pretrained(model, [model.trunk.encoder])
        fit(model, tasks, scenes, epochs=2, batch_size=8, lr=1e-2, progress=False, device="cpu",
            penalty=L2SP(model, alpha=alpha, beta=0.0))
        distances.append(sum(float((p.detach() - model.pretrained_state[n]).square().sum())
                             for n, p in model.named_parameters() if n.startswith("trunk.encoder.")))
    assert distances[1] < 0.5 * distances[0]


def test_cached_features_train_and_score_like_the_images(scenes):
    from mtl_course.train import evaluate
    from mtl_course.transfer import CachedFeatureModel, cache_features, encoder_stages
    tasks = [get_task("depth"), get_task("edges")]
    model = two_task_model()
    with pytest.raises(ValueError, match="whole encoder frozen.*stage4"):
        cache_features(freeze(model, "stage0", "stage1", "stage2", "stage3"), scenes)
    freeze(model, *encoder_stages(model))
    cached = cache_features(model, scenes)
    assert cached["features"].shape == (len(scenes), sum(c * (32 // s) ** 2 for c, s in
                                                         zip(model.trunk.encoder.channels, model.trunk.encoder.strides)))
    assert "image" not in cached and torch.equal(cached["depth"], scenes.tensors()["depth"])
    head = CachedFeatureModel(model)
    before = {n: p.detach().clone() for n, p in model.trunk.encoder.named_parameters()}
    fit(head, tasks, cached, epochs=2, batch_size=8, lr=1e-2, progress=False, device="cpu")
    assert all(torch.equal(p, before[n]) for n, p in model.trunk.encoder.named_parameters())   # frozen stays put
    from_cache, from_images = evaluate(head, tasks, cached), evaluate(model, tasks, scenes)
    for task in from_images:
        for metric, value in from_images[task].items():
            assert from_cache[task][metric] == pytest.approx(value, rel=1e-4, abs=1e-5)
    with pytest.raises(ValueError, match="do not come from this model"):
        head(torch.zeros(2, 100))


def test_lp_ft_probes_with_the_encoder_frozen_then_trains_everything(scenes):
    from mtl_course.transfer import lp_ft
    tasks = [get_task("depth")]
    model = two_task_model()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    history = lp_ft(model, tasks, scenes, scenes, probe_epochs=2, epochs=1, lr=1e-3, probe_lr=1e-2,
                    new_lr=1e-2, batch_size=8, progress=False, device="cpu")
    assert history.epochs == [1, 2, 3] and len(history.val_metrics["depth"]["abs_err"]) == 3
    assert frozen_stages(model) == []                               # everything trains at the end
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, start[n])}
    assert any(n.startswith("trunk.encoder.") for n in moved) and any(n.startswith("trunk.decoder.") for n in moved)


def test_lp_ft_works_on_images_that_are_not_square():
    from mtl_course.transfer import lp_ft
    scenes = SyntheticScenes(n=16, size=64, seed=2, split="train", cache=False).tensors()
    wide = {k: v[..., 16:48, :] for k, v in scenes.items() if k in ("image", "depth")}    # 32x64 crops
    model = build_model([get_task("depth")], seed=0)
    history = lp_ft(model, [get_task("depth")], wide, wide, probe_epochs=1, epochs=1, batch_size=8, progress=False,
                    device="cpu")
    assert len(history.val_metrics["depth"]["abs_err"]) == 2


def test_with_the_decoder_frozen_too_only_the_heads_train_on_its_cached_output(scenes):
    from mtl_course.train import evaluate
    from mtl_course.transfer import CachedFeatureModel, cache_features, encoder_stages
    tasks = [get_task("depth"), get_task("labels", num_classes=6)]
    mc.seed_everything(0)
    model = freeze(build_model(tasks), *encoder_stages(build_model(tasks)), "decoder")
    cached = cache_features(model, scenes)
    assert cached["features"].shape == (len(scenes), 16 * 32 * 32 + 128 * 2 * 2)   # decoder map + last encoder map
    head = CachedFeatureModel(model)
    fit(head, tasks, cached, epochs=1, batch_size=8, lr=1e-2, progress=False, device="cpu")
    from_cache, from_images = evaluate(head, tasks, cached), evaluate(model, tasks, scenes)
    assert from_cache["depth"]["abs_err"] == pytest.approx(from_images["depth"]["abs_err"], rel=1e-4)
    assert from_cache["labels"] == pytest.approx(from_images["labels"], rel=1e-4, abs=1e-5)

"""Every bad input the library refuses or converts, in one table.

Each row: what a learner passes, and either the exception (type, and a phrase the message must contain:
the problem and the fix) or, for inputs the library converts, a check that the conversion gives what the
well-formed input gives. Never a raw torch error, never silent nonsense.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from mtl_course._io import CorruptFileError, save_verified
from mtl_course.data import SyntheticScenes
from mtl_course.metrics import delta_m
from mtl_course.models import build_model, load_backbone
from mtl_course.tasks import get_task
from mtl_course.train import evaluate, fit, load_checkpoint, save_checkpoint
from mtl_course.weighting import get_weighting

SEMSEG = get_task("semseg", num_classes=3)
LOGITS = torch.randn(2, 3, 4, 4)
LABELS = torch.tensor([0, 1, 2, 255]).repeat(2, 4, 1)           # [2, 4, 4], a void pixel in every row
EDGE_LOGITS = torch.randn(2, 1, 4, 4)
EDGE_MAP = (torch.rand(2, 1, 4, 4) > 0.7).float()


def model() -> Any:
    return build_model([get_task("depth")], seed=0).eval()


def images(n: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def same(a: Callable[[], Any], b: Callable[[], Any]) -> Callable[[], None]:
    """A converted input must give exactly what the well-formed one gives."""
    def check() -> None:
        x, y = a(), b()
        if isinstance(x, dict):
            assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
        else:
            assert torch.equal(x, y), (x, y)
    return check


def refuses(fn: Callable[[], Any], error: type[Exception], phrase: str) -> Callable[[], None]:
    def check() -> None:
        with pytest.raises(error, match=phrase):
            fn()
    return check


def void(label: int) -> torch.Tensor:
    target = LABELS.clone()
    target[target == 255] = label
    return target


def checkpoint_of_a_backbone(tmp_path) -> Any:
    path = tmp_path / "backbone.pt"
    save_verified({"format": "mtl_course-backbone-1", "encoder": "unet", "parts": ["encoder"], "state_dict": {}}, path)
    return load_checkpoint(path)


def backbone_from_a_checkpoint(tmp_path) -> Any:
    path = save_checkpoint(model(), tmp_path / "model.pt")
    return load_backbone(model(), path)


def plain_torch_file(tmp_path) -> Any:
    torch.save(model().state_dict(), tmp_path / "state.pt")
    return load_checkpoint(tmp_path / "state.pt")


def data(**changes: Any) -> dict:
    tensors = SyntheticScenes(n=4, size=32, seed=1, cache=False).tensors()
    return {**{k: tensors[k] for k in ("image", "semseg", "depth")}, **changes}


SCENES_TASKS = [get_task("semseg", num_classes=6), get_task("depth")]

CASES: dict[str, Callable[..., Callable[[], None]]] = {
    # --- converted: integer and bool maps, 8-bit images --------------------------------------------------
    "semseg labels as uint8": lambda t: same(lambda: SEMSEG.loss(LOGITS, LABELS.to(torch.uint8)),
                                             lambda: SEMSEG.loss(LOGITS, LABELS)),
    "semseg labels as int32": lambda t: same(lambda: SEMSEG.loss(LOGITS, LABELS.int()), lambda: SEMSEG.loss(LOGITS, LABELS)),
    "semseg labels as int32 in the metric": lambda t: same(lambda: SEMSEG.stats(LOGITS, LABELS.int()),
                                                           lambda: SEMSEG.stats(LOGITS, LABELS)),
    "edge map as bool (loss)": lambda t: same(lambda: get_task("edges").loss(EDGE_LOGITS, EDGE_MAP.bool()),
                                              lambda: get_task("edges").loss(EDGE_LOGITS, EDGE_MAP)),
    "edge map as bool (metric)": lambda t: same(lambda: get_task("edges").stats(EDGE_LOGITS, EDGE_MAP.bool()),
                                                lambda: get_task("edges").stats(EDGE_LOGITS, EDGE_MAP)),
    "depth map as integers": lambda t: same(lambda: get_task("depth").loss(torch.ones(1, 1, 2, 2), torch.tensor(
        [[[[2, 0], [3, 1]]]])), lambda: get_task("depth").loss(torch.ones(1, 1, 2, 2), torch.tensor([[[[2., 0], [3, 1]]]]))),
    "multi-hot labels as int64": lambda t: same(
        lambda: get_task("labels", num_classes=3).loss(torch.zeros(2, 2), torch.tensor([[1, 0], [0, 1]])),
        lambda: get_task("labels", num_classes=3).loss(torch.zeros(2, 2), torch.tensor([[1., 0], [0, 1]]))),
    "uint8 image into the model": lambda t: same(lambda: model()((images() * 255).round().to(torch.uint8))["depth"],
                                                 lambda: model()((images() * 255).round() / 255)["depth"]),
    "void label -1 with ignore_index=-1": lambda t: same(
        lambda: get_task("semseg", num_classes=3, ignore_index=-1).loss(LOGITS, void(-1)),
        lambda: SEMSEG.loss(LOGITS, LABELS)),
    "void label -100 with ignore_index=-100 (metric)": lambda t: same(
        lambda: get_task("semseg", num_classes=3, ignore_index=-100).stats(LOGITS, void(-100)),
        lambda: SEMSEG.stats(LOGITS, LABELS)),
    # --- refused: labels ---------------------------------------------------------------------------------
    "void label -1 with the default ignore_index": lambda t: refuses(
        lambda: SEMSEG.loss(LOGITS, void(-1)), ValueError, r"label -1.*pass get_task\('semseg', num_classes=3, "
                                                           r"ignore_index=-1\)"),
    "void label -100 while training": lambda t: refuses(
        lambda: fit(build_model(SCENES_TASKS), SCENES_TASKS, data(semseg=void_scenes(-100)), epochs=1, progress=False),
        ValueError, r"label -100.*ignore_index=-100"),
    "class id beyond num_classes": lambda t: refuses(
        lambda: SEMSEG.loss(LOGITS, void(7)), ValueError, r"class id 7 .*pass num_classes=8"),
    "float label map (ToTensor scaled it)": lambda t: refuses(
        lambda: SEMSEG.loss(LOGITS, LABELS.float() / 255), ValueError, r"integer class ids.*ToTensor"),
    "ignore_index that is a class id": lambda t: refuses(
        lambda: get_task("semseg", num_classes=3, ignore_index=1), ValueError, r"ignore_index=1 must .*not a class id"),
    "NaN in a depth target while training": lambda t: refuses(
        lambda: fit(build_model(SCENES_TASKS), SCENES_TASKS, data(depth=nan_depth()), epochs=1, progress=False),
        ValueError, r"depth targets contain NaN or inf"),
    "a list as target": lambda t: refuses(lambda: get_task("depth").loss(torch.ones(1, 1, 2, 2), [[1.0]]),
                                          TypeError, r"depth target must be a torch.Tensor"),
    "target of the wrong shape": lambda t: refuses(
        lambda: SEMSEG.loss(LOGITS, LABELS[:, :2]), ValueError, r"semseg target has shape \(2, 2, 4\)"),
    # --- refused: images ---------------------------------------------------------------------------------
    "float image in 0..255": lambda t: refuses(lambda: model()(images() * 255), ValueError,
                                               r"far outside \[0, 1\].*divide them by 255"),
    "float image in 0..255 while training": lambda t: refuses(
        lambda: fit(build_model(SCENES_TASKS), SCENES_TASKS, data(image=data()["image"] * 255), epochs=1,
                    progress=False), ValueError, r"divide them by 255"),
    "int32 image": lambda t: refuses(lambda: model()(images().int()), ValueError, r"torch.int32 are not supported"),
    "a single image without batch dimension": lambda t: refuses(lambda: model()(images()[0]), ValueError,
                                                                r"x.unsqueeze\(0\)"),
    "image side not a multiple of 16": lambda t: refuses(lambda: model()(torch.rand(1, 3, 40, 40)), ValueError,
                                                         r"multiples of 16"),
    "channels-last images": lambda t: refuses(lambda: model()(images().permute(0, 2, 3, 1)), ValueError,
                                              r"channels-last \[B, H, W, 3\].*x.permute\(0, 3, 1, 2\)"),
    "one channels-last image": lambda t: refuses(lambda: model()(images()[0].permute(1, 2, 0)), ValueError,
                                                 r"x.permute\(2, 0, 1\).unsqueeze\(0\)"),
    # --- refused: datasets --------------------------------------------------------------------------------
    "a TensorDataset of (image, mask) tuples": lambda t: refuses(
        lambda: fit(build_model(SCENES_TASKS), SCENES_TASKS,
                    torch.utils.data.TensorDataset(data()["image"], data()["semseg"]), epochs=1, progress=False),
        TypeError, r"samples that are dicts.*samples are tuples"),
    "a list of (image, mask) tuples": lambda t: refuses(
        lambda: evaluate(build_model(SCENES_TASKS), SCENES_TASKS, list(zip(data()["image"], data()["semseg"]))),
        TypeError, r"samples are tuples.*\{'image': images, 'semseg': masks\}"),
    "a DataLoader instead of the dataset": lambda t: refuses(
        lambda: fit(build_model(SCENES_TASKS), SCENES_TASKS, torch.utils.data.DataLoader([data()]), epochs=1,
                    progress=False), TypeError, r"pass the dataset itself, not a DataLoader"),
    # --- refused: names and settings ----------------------------------------------------------------------
    "weighting name with a typo": lambda t: refuses(lambda: get_weighting("uncertanity"), ValueError,
                                                    r"did you mean 'uncertainty'\?"),
    "unknown task": lambda t: refuses(lambda: get_task("segmentation"), ValueError, r"unknown task 'segmentation'"),
    "semseg without num_classes": lambda t: refuses(lambda: get_task("semseg"), TypeError, r"Pass num_classes=C"),
    "unknown encoder": lambda t: refuses(lambda: build_model([get_task("depth")], encoder="vgg"), ValueError,
                                         r"unknown encoder 'vgg'"),
    "imagenet weights for the unet": lambda t: refuses(
        lambda: build_model([get_task("depth")], pretrained="imagenet"), ValueError, r"only for encoder='resnet18'"),
    "the same task twice": lambda t: refuses(lambda: build_model([get_task("depth"), get_task("depth")]),
                                             ValueError, r"each task may appear once"),
    "a model that is not a MultiTaskNet": lambda t: refuses(
        lambda: evaluate(torch.nn.Conv2d(3, 1, 1), [get_task("depth")], data()), TypeError, r"MultiTaskNet"),
    "delta_m with a metric of unknown direction": lambda t: refuses(
        lambda: delta_m({"depth": {"x": 1.0}}, {"depth": {"x": 2.0}}, [get_task("depth")], metrics={"depth": ["x"]}),
        KeyError, r"does not know whether a higher 'x' is better"),
    # --- refused: files -----------------------------------------------------------------------------------
    "a backbone file as a checkpoint": lambda t: refuses(lambda: checkpoint_of_a_backbone(t), CorruptFileError,
                                                         r"not a model checkpoint"),
    "a checkpoint as a backbone": lambda t: refuses(lambda: backbone_from_a_checkpoint(t), CorruptFileError,
                                                    r"not a backbone file"),
    "a plain torch.save file as a checkpoint": lambda t: refuses(lambda: plain_torch_file(t), CorruptFileError,
                                                                 r"not an mtl_course file"),
    "a missing checkpoint": lambda t: refuses(lambda: load_checkpoint(t / "nope.pt"), FileNotFoundError,
                                              r"save_checkpoint\(model"),
}


def void_scenes(label: int) -> torch.Tensor:
    semseg = data()["semseg"].clone()
    semseg[:, 0, 0] = label
    return semseg


def nan_depth() -> torch.Tensor:
    depth = data()["depth"].clone()
    depth[0, 0, 0, 0] = float("nan")
    return depth


def test_the_table_is_large():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, tmp_path):
    CASES[case](tmp_path)()

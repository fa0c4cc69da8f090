import numpy as np
from matplotlib.colors import hsv_to_rgb
import torch

from mtl_course.models import build_model
from mtl_course.viz import PALETTE, class_colours, colorize, show_predictions, show_sample, show_samples


def test_show_sample_draws_every_label_map(scenes):
    fig = show_sample(scenes[0], scenes.classes)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["image", "semseg", "instance", "depth", "edges", "normals"]
    assert fig._suptitle.get_text().startswith("labels:")
    assert [ax.get_ylabel() for ax in fig.axes if not ax.images] == ["depth (m)"]  # the depth colour bar, in metres
    assert [t.get_text() for t in fig.legends[0].get_texts()] == scenes.classes   # which colour is which class


def test_show_samples_grid(batch):
    fig = show_samples(batch, n=3)
    assert len([ax for ax in fig.axes if ax.images]) == 3 * 6
    depth = [ax.images[0].get_clim() for ax in fig.axes if ax.images and ax.images[0].get_cmap().name == "magma_r"]
    assert len(depth) == 3 and len(set(depth)) == 1             # one colour scale for the whole depth column


def test_show_predictions_target_next_to_prediction(all_tasks, scenes):
    model = build_model(all_tasks)
    model.train()
    fig = show_predictions(model, all_tasks, scenes, n=2, device="cpu")
    assert model.training                                       # left in the mode it was in
    assert len([ax for ax in fig.axes if ax.images]) == 2 * (1 + 2 * 4)   # image + (target, prediction) per dense task
    depth = [ax.images[0] for ax in fig.axes if ax.images and "depth" in ax.get_title()]
    assert depth[0].get_clim() == depth[1].get_clim()           # target and prediction on one colour scale
    model.eval()
    show_predictions(model, all_tasks, scenes, n=1, device="cpu")
    assert not model.training
    assert fig.axes[1].get_title() == "semseg\ntarget" and fig.axes[2].get_title() == "semseg\nprediction"


def test_colorize_semseg_uses_the_palette_and_ignore_colour():
    rgb, _ = colorize("semseg", torch.tensor([[0, 1], [255, 2]]))
    assert rgb.shape == (2, 2, 3) and (rgb[1, 0] == 1.0).all()
    assert not (rgb[0, 0] == rgb[0, 1]).all()


def test_more_classes_than_the_palette_get_colours_of_their_own():
    labels = torch.arange(24).view(4, 6)                     # classes 0..23: more than PALETTE's 10
    rgb, _ = colorize("semseg", labels)
    colours = rgb.reshape(-1, 3)
    assert len({tuple(np.round(c, 6)) for c in colours}) == 24          # no two classes alike (class 10 != class 0)
    assert np.allclose(colours[:10], PALETTE)                           # the first ten keep the course's colours
    assert np.allclose(class_colours(24), colours)
    void, _ = colorize("semseg", torch.tensor([[11, 255]]))
    assert np.allclose(void[0, 1], 1.0) and not np.allclose(void[0, 0], 1.0)


def test_class_legend_names_every_class_in_its_colour():
    import matplotlib.pyplot as plt
    from mtl_course.viz import class_legend
    names = [f"class {i}" for i in range(12)]
    fig = plt.figure()
    class_legend(fig, names)
    handles = fig.legends[0].legend_handles
    assert [t.get_text() for t in fig.legends[0].get_texts()] == names
    assert np.allclose([h.get_facecolor()[:3] for h in handles], class_colours(12))
    plt.close(fig)


def test_show_predictions_takes_the_scenes_at_indices(all_tasks, scenes):
    model = build_model(all_tasks[:1]).eval()
    fig = show_predictions(model, all_tasks[:1], scenes, indices=[5, 2], device="cpu")
    drawn = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    expected, _ = colorize("image", scenes.tensors()["image"][5])
    assert np.allclose(drawn[0], expected)                              # first row: scene 5, not scene 0
    target, _ = colorize("semseg", scenes.tensors()["semseg"][2])
    assert np.allclose(drawn[3 + 1], target)                            # second row's target: scene 2
    import pytest
    with pytest.raises(ValueError, match="indices must pick"):
        show_predictions(model, all_tasks[:1], scenes, indices=[99], device="cpu")


def test_history_plot(all_tasks, scenes):
    from mtl_course.train import fit
    tasks = all_tasks[:2]
    model = build_model(tasks)
    hist = fit(model, tasks, scenes, scenes, epochs=2, batch_size=8, progress=False, device="cpu")
    fig = hist.plot()
    assert len(fig.axes) == 4 and fig.axes[1].get_lines()


def test_colorize_offsets_by_direction_and_length_with_the_background_grey():
    offsets = torch.full((2, 2, 2), float("nan"))
    offsets[:, 0, 0] = torch.tensor([0.0, 2.0])                        # (dy, dx) = right, the longest
    offsets[:, 0, 1] = torch.tensor([-1.0, 0.0])                       # up, half as long
    rgb, _ = colorize("offsets", offsets)
    assert rgb.shape == (2, 2, 3)
    assert np.allclose(rgb[0, 0], [1.0, 0.0, 0.0])                     # hue 0 (red), full brightness
    assert np.allclose(rgb[0, 1], hsv_to_rgb([0.25, 1.0, 0.5]))        # hue a quarter turn on, half as bright
    assert np.allclose(rgb[1, 0], PALETTE[0]) and np.allclose(rgb[1, 1], PALETTE[0])   # no object: background
    heat, style = colorize("centers", torch.rand(1, 3, 3))
    assert heat.shape == (3, 3) and style["vmin"] == 0 and style["vmax"] == 1

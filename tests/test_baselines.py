import json

import pytest

from mtl_course.lessons import LessonSetup, baselines, results_path, save_stl_scores, stl_scores
from mtl_course.models import build_model
from mtl_course.tasks import get_task

TINY = LessonSetup(size=32, n_train=16, n_val=8, epochs=1, batch_size=8)


def test_missing_baselines_are_trained_saved_then_read(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_COURSE_CACHE", str(tmp_path))
    first = stl_scores(["depth"], TINY, progress=False)
    path = results_path(TINY)
    assert path.parent == tmp_path / "results"
    stored = json.loads(path.read_text())
    assert stored["setup"]["n_train"] == 16 and stored["scores"]["depth"] == first["depth"]

    def must_not_train(*args, **kwargs):
        raise AssertionError("the saved score should have been read, not retrained")
    monkeypatch.setattr(baselines, "train_single_task", must_not_train)
    assert stl_scores(["depth"], TINY) == first


def test_saved_scores_merge_by_task(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_COURSE_CACHE", str(tmp_path))
    save_stl_scores({"semseg": {"miou": 0.4}}, TINY)
    save_stl_scores({"depth": {"abs_err": 0.3}}, TINY)
    assert stl_scores(["semseg", "depth"], TINY) == {"semseg": {"miou": 0.4}, "depth": {"abs_err": 0.3}}
    other = LessonSetup(size=32, n_train=16, n_val=8, epochs=2, batch_size=8)
    assert results_path(other) != results_path(TINY)          # other settings, other file


def test_scores_saved_under_another_task_definition_are_retrained(tmp_path, monkeypatch):
    """A baseline file from before the edge metric changed (no specs, or another protocol) must not be read."""
    monkeypatch.setenv("MTL_COURSE_CACHE", str(tmp_path))
    save_stl_scores({"edges": {"f_score": 0.98}, "depth": {"abs_err": 0.3}}, TINY)
    saved = json.loads(results_path(TINY).read_text())
    assert saved["specs"] == {"edges": {"name": "edges", "max_dist": 0.0075},
                              "depth": {"name": "depth", "initial_depth": 5.0}}
    saved["specs"]["edges"] = {"name": "edges", "protocol": "tolerance", "tolerance": 1}
    results_path(TINY).write_text(json.dumps(saved))
    trained = []
    monkeypatch.setattr(baselines, "train_single_task", lambda name, *a, **k: trained.append(name) or (None, None))
    monkeypatch.setattr(baselines, "evaluate", lambda model, tasks, data: {tasks[0].name: {"f_score": 0.7}})
    assert stl_scores(["edges", "depth"], TINY) == {"edges": {"f_score": 0.7}, "depth": {"abs_err": 0.3}}
    assert trained == ["edges"]                                # depth's saved score still counts
    del saved["specs"]                                         # a file written before specs were saved
    results_path(TINY).write_text(json.dumps(saved))
    trained.clear()
    stl_scores(["depth"], TINY)
    assert trained == ["depth"]


def test_depth_head_starts_at_a_typical_depth():
    model = build_model([get_task("depth", initial_depth=4.0)])
    assert model.heads["depth"].layers[-1].bias.item() == pytest.approx(4.0)
    assert get_task("depth").spec() == {"name": "depth", "initial_depth": 5.0}


def test_every_lesson_setup_shares_one_base():
    from mtl_course.lessons import PretrainSetup, Setup, TransferSetup
    for setup in (LessonSetup(), TransferSetup(), PretrainSetup()):
        assert isinstance(setup, Setup)
        changed = setup.replace(seed=3)
        assert changed.seed == 3 and setup.seed == 0 and type(changed) is type(setup)
        assert changed.key() != setup.key() and "seed3" in changed.key()
    with pytest.raises(Exception):
        LessonSetup().seed = 1                                 # frozen: a lesson cannot change it by accident


def test_missing_baselines_say_so_and_how_long_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTL_COURSE_CACHE", str(tmp_path))
    stl_scores(["depth"], TINY, progress=False)
    said = capsys.readouterr().out
    assert "No saved single-task scores for ['depth']" in said and "Training them now: 1 model(s), about" in said

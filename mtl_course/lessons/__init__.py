"""Lesson harnesses: the settings and experiments the notebooks share, above the library.

    setup.py           Setup (the base), LessonSetup, LESSON_SETUP, SHARING_SETUP, SHARING_VARIANTS (lesson 06),
                       lesson_task, train_model, train_single_task
    baselines.py       the single-task baseline cache: save_stl_scores, stl_scores
    transfer_study.py  lesson 05: TransferSetup, the six recipes, run
    instances.py       lesson 07: INSTANCE_SETUP, INSTANCE_VARIANTS, train_variant, predict_panoptic,
                       evaluate_panoptic (import them from mtl_course.lessons.instances)
    deploy.py          lesson 09: DEPLOY_SETUP, train_teacher, train_student (labels alone or distilled),
                       median_ms, latency_ms (import them from mtl_course.lessons.deploy)
    pretrain.py        how the course backbone is made: PretrainSetup, pretrain
    scale.py           every lesson's two presets, "laptop" and "gpu": lesson_setup, PRESETS, GPU_VERIFIED
"""

from mtl_course.lessons.baselines import results_path, save_stl_scores, stl_scores
from mtl_course.lessons.pretrain import PretrainSetup, pretrain
from mtl_course.lessons.scale import GPU_VERIFIED, PRESETS, SCALES, lesson_setup
from mtl_course.lessons.setup import (LESSON_SETUP, SHARING_SETUP, SHARING_VARIANTS, LessonSetup, Setup,
                                     lesson_task, train_model, train_single_task)
from mtl_course.lessons.transfer_study import (RECIPES, TransferSetup, feature_extraction, fine_tuning, from_scratch,
                                              l2sp_fine_tuning, partial_freezing, probe_then_fine_tune, run)

__all__ = ["GPU_VERIFIED", "LESSON_SETUP", "LessonSetup", "PRESETS", "PretrainSetup", "RECIPES", "SCALES",
           "SHARING_SETUP", "SHARING_VARIANTS", "Setup", "TransferSetup", "feature_extraction", "fine_tuning",
           "from_scratch", "l2sp_fine_tuning", "lesson_setup", "lesson_task", "partial_freezing", "pretrain", "probe_then_fine_tune", "results_path", "run",
           "save_stl_scores", "stl_scores", "train_model", "train_single_task"]

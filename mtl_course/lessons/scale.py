"""Two sizes of every lesson: "laptop" (the default: each lesson in <= 120 s on 2 CPU cores) and "gpu" (larger
images, 4-16x the scenes and optimiser steps, meant for ~90 s a lesson on one H100).

    setup = lesson_setup("03")           # the preset for this machine; prints which one and why
    setup = lesson_setup("03", "gpu")    # ask for one (any machine: the gpu preset is slow on a CPU)

At the laptop budget some textbook effects do not show (lesson 02: hard sharing trails the single-task networks;
lesson 05: no crossover between feature extraction and fine-tuning). The gpu preset asks the same questions at a
larger budget. A lesson picks "gpu" by itself on a CUDA GPU only once its claims have been checked at that size
(benchmarks/verify_claims.py --scale gpu, >= 3 seeds) and its text states both results: GPU_VERIFIED lists those
lessons. Until then it runs "laptop" on a GPU too, and says so, because its text describes the laptop's results.
$MTL_COURSE_SCALE=laptop|gpu overrides the choice.
"""

from __future__ import annotations

import os
from dataclasses import asdict

from mtl_course.device import get_device
from mtl_course.lessons.deploy import DEPLOY_SETUP
from mtl_course.lessons.instances import INSTANCE_SETUP
from mtl_course.lessons.own_data import OWN_DATA
from mtl_course.lessons.setup import LESSON_SETUP, SHARING_SETUP, LessonSetup, Setup
from mtl_course.lessons.transfer_study import TransferSetup

SCALES = ("laptop", "gpu")
SCALE_ENV = "MTL_COURSE_SCALE"
GPU_VERIFIED: frozenset[str] = frozenset()     # lessons whose gpu claims verify_claims --scale gpu has checked

# The gpu presets are first estimates from fit's measured speed on an H100 (~14 k images/s for the UNet at 64x64,
# so ~3.5 k at 128x128): to be timed and verified on a GPU before a lesson picks them by itself.
PRESETS: dict[str, dict[str, Setup]] = {
    "01": {"laptop": LESSON_SETUP,
           "gpu": LessonSetup(size=96, n_train=3072, n_val=512, epochs=14, batch_size=32)},
    "02": {"laptop": LESSON_SETUP,
           "gpu": LessonSetup(size=96, n_train=3072, n_val=512, epochs=14, batch_size=32)},
    "03": {"laptop": LessonSetup(size=32, n_train=256, n_val=128, epochs=5),
           "gpu": LessonSetup(size=96, n_train=2048, n_val=512, epochs=10, batch_size=32)},
    "04": {"laptop": LessonSetup(size=32, n_train=192, n_val=128, epochs=5),
           "gpu": LessonSetup(size=96, n_train=1536, n_val=512, epochs=10, batch_size=32)},
    "05": {"laptop": TransferSetup(),
           "gpu": TransferSetup(size=96, budgets=(64, 160, 480, 1920), n_val=1024, steps=480, batch_size=32)},
    "06": {"laptop": SHARING_SETUP,
           "gpu": LessonSetup(size=96, n_train=2048, n_val=512, epochs=10, batch_size=32)},
    "07": {"laptop": INSTANCE_SETUP,
           "gpu": LessonSetup(size=96, n_train=2048, n_val=512, epochs=16, batch_size=32)},
    "08": {"laptop": OWN_DATA,
           "gpu": OWN_DATA.replace(n_train=2560, n_val=384, scene_size=128, frame_height=112, size=(96, 128),
                                   epochs=12, batch_size=32)},
    "09": {"laptop": DEPLOY_SETUP,
           "gpu": LessonSetup(size=96, n_train=2048, n_val=512, epochs=24, batch_size=32)},
}


def pick_scale(lesson: str) -> tuple[str, str]:
    """(scale, why) for this lesson on this machine."""
    chosen = os.environ.get(SCALE_ENV)
    if chosen:
        if chosen not in SCALES:
            raise ValueError(f"${SCALE_ENV}={chosen!r} is not a scale; use one of {list(SCALES)}")
        return chosen, f"${SCALE_ENV} asks for it"
    if get_device().type != "cuda":
        return "laptop", f"no CUDA GPU here; lesson_setup({lesson!r}, 'gpu') runs the larger one, slowly on a CPU"
    if lesson in GPU_VERIFIED:
        return "gpu", "a CUDA GPU is here"
    return "laptop", ("a CUDA GPU is here, but this lesson's claims have not been checked at the gpu size yet: the "
                      f"text describes the laptop's results (lesson_setup({lesson!r}, 'gpu') runs it anyway)")


def lesson_setup(lesson: str, scale: str | None = None, verbose: bool = True) -> Setup:
    """The settings of `lesson` ("01".."09") at `scale` ("laptop" or "gpu"; None: pick_scale). Prints which."""
    if lesson not in PRESETS:
        raise ValueError(f"no presets for lesson {lesson!r}; lessons with presets: {sorted(PRESETS)}")
    if scale is not None and scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {list(SCALES)}")
    scale, why = (scale, "asked for") if scale is not None else pick_scale(lesson)
    setup = PRESETS[lesson][scale]
    if verbose:
        settings = ", ".join(f"{k}={v}" for k, v in asdict(setup).items())
        print(f'lesson {lesson} runs its "{scale}" preset: {settings}\n  ({why})')
    return setup

import os
import tempfile

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
# Keep the tests hermetic: generated scenes go to a throw-away cache, never the course's data/cache.
os.environ["MTL_COURSE_CACHE"] = tempfile.mkdtemp(prefix="mtl-course-test-cache-")
os.environ.pop("MTL_COURSE_DEVICE", None)
torch.set_num_threads(min(2, torch.get_num_threads()))

from mtl_course.data import SyntheticScenes  # noqa: E402
from mtl_course.tasks import get_task  # noqa: E402


@pytest.fixture(scope="session")
def scenes() -> SyntheticScenes:
    return SyntheticScenes(n=24, size=32, seed=3, split="train", cache=False)


@pytest.fixture(scope="session")
def batch(scenes: SyntheticScenes) -> dict:
    return scenes.tensors()


@pytest.fixture
def all_tasks() -> list:
    return [get_task("semseg", num_classes=6), get_task("depth"), get_task("edges"), get_task("normals"),
            get_task("labels", num_classes=6)]

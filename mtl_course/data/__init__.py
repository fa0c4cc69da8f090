"""Datasets: the built-in SyntheticScenes (offline, instant) and, later, real datasets."""

from mtl_course.data.centers import center_targets, instance_centers
from mtl_course.data.render import CLASSES
from mtl_course.data.sizes import pad_to_multiple, resize_to_multiple
from mtl_course.data.synthetic import SyntheticScenes

__all__ = ["CLASSES", "SyntheticScenes", "center_targets", "instance_centers", "pad_to_multiple",
           "resize_to_multiple"]

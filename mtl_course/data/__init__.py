"""Datasets: the built-in SyntheticScenes (offline, instant) and real ones (load_dataset: your folder, Oxford-IIIT
Pet, VOC, Cityscapes), all as dict samples {"image": [3, H, W], "semseg": [H, W], ...} that fit reads."""

from mtl_course.data.centers import center_targets, instance_centers
from mtl_course.data.folder import FolderDataset, write_folder
from mtl_course.data.labelled import LabelledImages
from mtl_course.data.load import load_dataset
from mtl_course.data.render import CLASSES
from mtl_course.data.sizes import pad_to_multiple, resize_to_multiple
from mtl_course.data.synthetic import SyntheticScenes

__all__ = ["CLASSES", "FolderDataset", "LabelledImages", "SyntheticScenes", "center_targets", "instance_centers",
           "load_dataset", "pad_to_multiple", "resize_to_multiple", "write_folder"]

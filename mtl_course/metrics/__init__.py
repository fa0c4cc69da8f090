"""Metrics: pure functions from predictions to scores, plus delta_m for comparing against baselines.

Each metric is split into `*_stats/counts/sums` (tensors that add up over batches; the normals' statistics
are the per-pixel errors, joined by concatenation) and `*_scores` (the final numbers), so evaluating in one
batch or in many gives the same result.
"""

from mtl_course.metrics.bsds import bsds_counts, bsds_scores, thin
from mtl_course.metrics.centers import center_counts, center_scores, offset_scores, offset_sums
from mtl_course.metrics.delta_m import delta_m
from mtl_course.metrics.depth import depth_scores, depth_sums
from mtl_course.metrics.edges import edge_counts, edge_scores
from mtl_course.metrics.grouping import find_centers, group_instances
from mtl_course.metrics.multilabel import multilabel_counts, multilabel_scores
from mtl_course.metrics.normals import angle_errors, normal_scores, normal_stats
from mtl_course.metrics.panoptic import panoptic_quality, panoptic_scores, panoptic_stats
from mtl_course.metrics.segmentation import confusion_matrix, per_class_iou, segmentation_scores

__all__ = ["angle_errors", "bsds_counts", "bsds_scores", "center_counts", "center_scores", "confusion_matrix",
           "delta_m", "depth_scores", "depth_sums", "edge_counts", "edge_scores", "find_centers", "group_instances",
           "multilabel_counts", "multilabel_scores", "normal_scores", "normal_stats", "offset_scores", "offset_sums",
           "panoptic_quality", "panoptic_scores", "panoptic_stats", "per_class_iou", "segmentation_scores", "thin"]

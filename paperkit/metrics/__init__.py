"""Metrics shared by the chapters: classification, segmentation masks and LV contours."""
from paperkit.metrics.classification import (
    BootstrapResult,
    auprc_ap,
    auprc_trapezoid,
    auroc,
    bootstrap_accuracy,
    confusion_metrics,
    per_label,
)
from paperkit.metrics.contours import (
    ContourEvaluation,
    evaluate_contours,
    perpendicular_distance,
    perpendicular_point_distances,
    polygon_to_mask,
    symmetric_nearest_distance,
)
from paperkit.metrics.segmentation import average_surface_distance, dice, hausdorff_distance, pixel_accuracy

__all__ = [
    "BootstrapResult",
    "bootstrap_accuracy",
    "auroc",
    "auprc_ap",
    "auprc_trapezoid",
    "confusion_metrics",
    "per_label",
    "dice",
    "pixel_accuracy",
    "hausdorff_distance",
    "average_surface_distance",
    "perpendicular_point_distances",
    "perpendicular_distance",
    "symmetric_nearest_distance",
    "polygon_to_mask",
    "ContourEvaluation",
    "evaluate_contours",
]

"""Metrics for segmentation: overlap (Dice, IoU), boundary distance (HD95) and calibration.

The overlap and distance metrics take bool masks, one channel per class, or class indices with
``num_classes``; they return one value per image and class ``(N, C)``, with MONAI's rules for
empty masks, and :func:`mean_score` averages them without the undefined (NaN) ones.

- ``mednotes.metrics.overlap``: ``dice_score``, ``iou_score``, ``mean_score``
- ``mednotes.metrics.distance``: ``hausdorff_distance``
- ``mednotes.metrics.calibration``: ``expected_calibration_error``, ``calibration_bins``

Example:
    >>> import torch
    >>> from mednotes.metrics import dice_score, mean_score
    >>> logits = torch.randn(4, 2, 16, 16)
    >>> target = torch.randint(0, 2, (4, 16, 16))
    >>> scores = dice_score(logits.argmax(1), target, include_background=False, num_classes=2)
    >>> scores.shape, mean_score(scores).shape
    (torch.Size([4, 1]), torch.Size([]))
"""

from mednotes.metrics.calibration import (
    CalibrationBins,
    calibration_bins,
    expected_calibration_error,
)
from mednotes.metrics.distance import hausdorff_distance
from mednotes.metrics.overlap import dice_score, iou_score, mean_score

__all__ = [
    "CalibrationBins",
    "calibration_bins",
    "dice_score",
    "expected_calibration_error",
    "hausdorff_distance",
    "iou_score",
    "mean_score",
]

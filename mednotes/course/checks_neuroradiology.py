"""Checks for the neuroradiology chapter's practice: sliding windows, blended weights, and
distances and detection counted the way a radiologist counts them.

Used by ``exercises/11_sliding_window.ipynb``; the chapter is
``book/applications/01_neuroradiology``. Every reference is computed by the library
(:mod:`mednotes.inference`, :func:`~mednotes.metrics.hausdorff_distance`,
:func:`~mednotes.metrics.detection.lesion_detection`) on the exercise's own inputs, never
written down.
"""

from __future__ import annotations

import torch

from mednotes.course.compare import Check, refined
from mednotes.inference import count_windows, importance_map, sliding_window_inference
from mednotes.metrics import hausdorff_distance
from mednotes.metrics.detection import lesion_detection

#: Exercise 1: a volume, a window and an overlap (first axis: slices).
VOLUME, WINDOW, OVERLAP = (40, 100, 100), (32, 64, 64), 0.5
#: Exercise 4: a 1D signal of 8 voxels, windows of 5 starting at 0 and 3 (overlap 0.25),
#: Gaussian weights with sigma_scale 0.2; window A predicts 0.9 everywhere, window B 0.2.
SIGNAL, ROI_1D, OVERLAP_1D, SIGMA_1D, PREDICTIONS, VOXEL = 8, 5, 0.25, 0.2, (0.9, 0.2), 4
#: Exercise 5: two one-voxel masks on a grid of 5 × 1 × 1 mm voxels (slices first).
POINT_PRED, POINT_TARGET, THICK_SPACING = (2, 10, 10), (5, 14, 10), (5.0, 1.0, 1.0)


def _windows_by_hand() -> int:
    return count_windows(VOLUME, WINDOW, OVERLAP)


def _blended_value() -> float:
    """Window A's and window B's constant predictions, blended at ``VOXEL`` by the library."""
    values = iter(PREDICTIONS)

    def predictor(window: torch.Tensor) -> torch.Tensor:
        return torch.full_like(window, next(values), dtype=torch.float64)

    x = torch.zeros(1, 1, SIGNAL, dtype=torch.float64)
    out = sliding_window_inference(x, ROI_1D, predictor, overlap=OVERLAP_1D, mode="gaussian",
                                   sigma_scale=SIGMA_1D)
    return out[0, 0, VOXEL].item()


def _hd_mm() -> float:
    pred = torch.zeros(1, 1, 8, 20, 20, dtype=torch.bool)
    target = torch.zeros_like(pred)
    pred[(0, 0, *POINT_PRED)] = True
    target[(0, 0, *POINT_TARGET)] = True
    return hausdorff_distance(pred, target, percentile=95, spacing=THICK_SPACING).item()


def lesion_masks() -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 6: two lesions 2 voxels apart, one predicted blob covering both, and twelve
    one-voxel false alarms in healthy tissue; ``(pred, target)``, bool ``(1, 16, 24)``."""
    target = torch.zeros(1, 16, 24, dtype=torch.bool)
    target[0, 2:5, 2:5] = True
    target[0, 2:5, 7:10] = True
    pred = torch.zeros_like(target)
    pred[0, 2:5, 2:10] = True                # one blob over both lesions and the gap
    for k in range(12):                      # twelve specks, far apart
        pred[0, 8 + 2 * (k // 6) * 2, 2 + 4 * (k % 6)] = True
    return pred, target


def _lesion_f1() -> float:
    return lesion_detection(*lesion_masks()).f1.item()


def _gaussian_weights(roi: int, sigma_scale: float) -> torch.Tensor:
    return importance_map((roi,), "gaussian", sigma_scale, dtype=torch.float64)


#: (image_size, roi_size, overlap) for the count_windows exercise.
COUNT_CASES = (((64, 64, 64), (32, 32, 32), 0.25), ((40, 100, 100), (32, 64, 64), 0.0),
               ((100, 37), (32, 16), 0.5), ((20, 160, 160), (32, 96, 96), 0.5),
               ((128, 128, 128), (96, 96, 96), 0.75), ((50,), (7,), 0.3))
#: (roi, sigma_scale) for the gaussian_weights exercise; the last one needs the 1e-3 floor.
GAUSS_CASES = ((5, 0.25), (8, 0.125), (9, 0.2), (32, 0.125), (16, 0.1))

IDEAS = {
    "windows_by_hand": "Count the windows along each axis on its own, then combine the axes.",
    "count_windows": "Along one axis: the step between starts, then how many starts fit, "
                     "then the axes together.",
    "gaussian_weights": "Each voxel's weight depends on its distance from the window's "
                        "centre, which need not be a voxel.",
    "blended_value_by_hand": "The blended value is a weighted mean of the windows' "
                             "predictions at that voxel.",
    "hd_mm_by_hand": "Convert each axis's step into millimetres before measuring the "
                     "distance.",
    "lesion_f1_by_hand": "Precision counts predicted components, recall counts true "
                         "lesions.",
}

CASE_NAMES = {
    "count_windows": ("the 64³ volume", "the thick-slab volume without overlap",
                      "the 2D image", "the volume thinner than the window",
                      "the 0.75-overlap volume", "the 1D signal"),
    "gaussian_weights": ("the 5-voxel window", "the 8-voxel window", "the 9-voxel window",
                         "the 32-voxel window", "the narrow 16-voxel window"),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter's practice, by name."""
    return refined({
        "windows_by_hand": Check(
            reference=_windows_by_hand,
            hint="The step is ⌊window · (1 − overlap)⌋; starts go 0, step, 2·step, ... until a "
                 "window reaches the border, and a window that would hang over is moved back "
                 "to end at the border. The total is the product of the three counts."),
        "count_windows": Check(
            reference=lambda image, roi, overlap: count_windows(image, roi, overlap),
            cases=COUNT_CASES,
            hint="Per axis: an axis shorter than the window is padded to it (one window); a "
                 "window as long as the axis gives one window; otherwise step = "
                 "max(int(roi · (1 − overlap)), 1) and starts continue while start + roi < "
                 "size, plus the last one. Multiply the counts."),
        "gaussian_weights": Check(
            reference=_gaussian_weights, cases=GAUSS_CASES,
            hint="d = i − (roi − 1)/2 for voxel i, σ = sigma_scale · roi, weight exp(−d²/(2σ²)); "
                 "then no weight may be below max(smallest weight, 0.001)."),
        "blended_value_by_hand": Check(
            reference=_blended_value,
            hint="Voxel 4 is at distance 2 from window A's centre and 1 from window B's "
                 "(σ = 0.2 · 5 = 1). Weight each prediction by exp(−d²/(2σ²)) and divide by the sum "
                 "of the two weights."),
        "hd_mm_by_hand": Check(
            reference=_hd_mm,
            hint="The points differ by 3 slices and 4 rows. Multiply each difference by its "
                 "own spacing, (5, 1, 1) mm, then take the Euclidean length."),
        "lesion_f1_by_hand": Check(
            reference=_lesion_f1,
            hint="The blob overlaps both lesions: one true positive that detects two. Each "
                 "speck is a false positive. Precision = tp / (tp + fp), recall = detected / "
                 "lesions, F1 = 2PR / (P + R)."),
    }, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "COUNT_CASES", "GAUSS_CASES", "IDEAS", "checks", "lesion_masks"]

"""Checks for the ophthalmology chapter's practice: Dice against clDice on vessel masks, by hand
and as functions, and CLAHE on the green channel.

Used by ``exercises/13_vessel_metrics.ipynb``; the chapter is
``book/applications/03_ophthalmology``. Every reference is computed by the library
(:func:`mednotes.metrics.dice_score`, :mod:`mednotes.metrics.topology`,
:func:`mednotes.data.fundus_enhance.clahe`) on the exercise's own masks and images.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from scipy import ndimage

from mednotes.course.compare import Check

#: The exercise's tiny masks, 7×9: a vessel one pixel wide along row 3, columns 1 to 7 ...
LINE = np.zeros((7, 9), bool)
LINE[3, 1:8] = True
#: ... predicted as a band three pixels thick over the same columns ...
BAND = np.zeros((7, 9), bool)
BAND[2:5, 1:8] = True
#: ... or predicted exactly, but with a gap of two pixels (columns 4 and 5).
GAP = LINE.copy()
GAP[3, 4:6] = False


def _as_batch(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(mask))[None, None]


def _dice(pred: np.ndarray, target: np.ndarray) -> float:
    from mednotes.metrics import dice_score

    return dice_score(_as_batch(pred), _as_batch(target)).item()


def _skeleton_recall(pred: np.ndarray, target: np.ndarray) -> float:
    from mednotes.metrics.topology import skeleton_recall

    return skeleton_recall(_as_batch(pred), _as_batch(target)).item()


def _cl_dice(pred: np.ndarray, target: np.ndarray) -> float:
    from mednotes.metrics.topology import cl_dice

    return cl_dice(_as_batch(pred), _as_batch(target)).item()


def _green_clahe(rgb: np.ndarray, clip_limit: float) -> np.ndarray:
    from mednotes.data.fundus_enhance import clahe, green_channel

    image = torch.from_numpy(rgb)
    return clahe(green_channel(image), clip_limit=clip_limit)[0].numpy()


# ------------------------------------------------------------------------ test inputs


@cache
def _vessel_cases() -> tuple[tuple, ...]:
    """(pred, target) pairs of (H, W) bool arrays: grown vessel trees and distorted predictions
    of them (thickened, thinned, cut, shifted, with spurious pixels)."""
    from mednotes.data import retinal_vessels

    ds = retinal_vessels(3, size=64, seed=13)
    rng = np.random.default_rng(13)
    cases = []
    for i in range(3):
        target = ds[i][1].numpy() == 1
        cut = target.copy()
        cut[:, 20:24] = False
        noisy = target ^ (rng.random(target.shape) < 0.02)
        cases += [(ndimage.binary_dilation(target), target), (cut, target), (noisy, target),
                  (np.roll(target, 1, axis=0), target)]
    cases.append((ndimage.binary_erosion(BAND, np.ones((1, 3))), BAND))
    return tuple((np.ascontiguousarray(p), np.ascontiguousarray(t)) for p, t in cases)


@cache
def _fundus_cases() -> tuple[tuple, ...]:
    """(rgb (3, H, W) float64 in [0, 1], clip_limit): crops of retinal_vessels images."""
    from mednotes.data import retinal_vessels

    ds = retinal_vessels(2, size=64, seed=17)
    images = [ds[i][0].double().numpy() for i in range(2)]
    return ((images[0], 0.01), (images[1], 0.03), (images[0], 0.1))


# ------------------------------------------------------------------------ checks


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    vessel_names = tuple(f"vessel case {k + 1}" for k in range(len(_vessel_cases())))
    return {
        "dice_thick_band": Check(
            reference=lambda: _dice(BAND, LINE),
            hint="Dice is 2|P ∩ G| / (|P| + |G|): count the pixels of the band, of the line, "
                 "and of their overlap."),
        "skeleton_recall_thick_band": Check(
            reference=lambda: _skeleton_recall(BAND, LINE),
            hint="The line is one pixel wide, so it is its own skeleton. Which of its pixels "
                 "lie inside the band?"),
        "dice_gap": Check(
            reference=lambda: _dice(GAP, LINE),
            hint="The prediction is the line without two of its pixels: count |P|, |G| and "
                 "|P ∩ G| again."),
        "skeleton_recall_gap": Check(
            reference=lambda: _skeleton_recall(GAP, LINE),
            hint="Skeleton recall is the fraction of the ground truth's centre line covered "
                 "by the prediction: how many of the line's pixels are still predicted?"),
        "skeleton_recall": Check(
            reference=_skeleton_recall, cases=_vessel_cases(), names=vessel_names,
            hint="Skeletonize the ground truth (not the prediction), then count how many of "
                 "its skeleton pixels lie inside the predicted mask, and divide by the "
                 "skeleton's size."),
        "cl_dice": Check(
            reference=_cl_dice, cases=_vessel_cases(), names=vessel_names,
            hint="Two fractions: the target's skeleton inside the predicted mask (recall) and "
                 "the prediction's skeleton inside the target mask (precision); clDice is "
                 "their harmonic mean, 2 r p / (r + p)."),
        "green_clahe": Check(
            reference=_green_clahe, cases=_fundus_cases(),
            names=("the first crop at clip 0.01", "the second crop at clip 0.03",
                   "the first crop at clip 0.1"),
            hint="Take channel 1 (green) of the (3, H, W) image and pass it to "
                 "skimage.exposure.equalize_adapthist with the clip_limit given."),
    }


__all__ = ["BAND", "GAP", "LINE", "checks"]

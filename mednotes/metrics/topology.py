"""Thin-structure metrics: does the prediction keep the centre lines of vessels connected?

Dice counts pixels, and a thick vessel holds most of them: a prediction that misses every
capillary, or cuts a vessel in two, can still score a high Dice. The metrics here compare
*skeletons* (one-pixel-wide centre lines, ``skimage.morphology.skeletonize``) with masks,
as clDice does (Shit et al., 2021):

- skeleton recall (clDice's *topology sensitivity*): the fraction of the ground truth's
  skeleton that lies inside the predicted mask; a gap in a vessel, or a missed thin branch,
  costs its whole length, whatever its width;
- skeleton precision (*topology precision*): the fraction of the prediction's skeleton that
  lies inside the ground-truth mask; a spurious branch costs its length;
- clDice: the harmonic mean of the two.

Conventions are those of :func:`~mednotes.metrics.dice_score`: bool masks ``(N, C, *spatial)``
or class indices with ``num_classes``, 2-D or 3-D, one score per image and class ``(N, C')``.
The empty cases follow the ground truth, as for Dice with MONAI's ``ignore_empty``:

- empty ground truth: NaN with ``ignore_empty=True`` (the default;
  :func:`~mednotes.metrics.mean_score` skips it), else 1 if the prediction is empty too and
  0 if it is not;
- non-empty ground truth, empty prediction: 0 for all three (nothing was found);
- a non-empty mask whose skeleton vanishes (a 2×2×2 cube in 3-D has no skeleton) keeps the
  mask itself as its skeleton, so that a score is never ``0 / 0``;
- clDice is 0 where both of its parts are 0.

Skeletons are computed on the CPU with scikit-image (2-D: Zhang's thinning; 3-D: Lee's); the
scores come back on the masks' device. No gradient flows: for a differentiable loss see the
soft-skeleton clDice of the paper.
"""

from __future__ import annotations

import numpy as np
import torch

from mednotes._checks import check_bool
from mednotes.metrics.overlap import hard_masks

__all__ = ["cl_dice", "skeleton", "skeleton_precision", "skeleton_recall"]


def skeleton(mask) -> np.ndarray:
    """The centre line of a 2-D or 3-D binary mask, one pixel wide (bool numpy array).

    ``skimage.morphology.skeletonize``, except that a non-empty mask whose skeleton
    would be empty (a 2×2×2 cube in 3-D) is its own skeleton.

    Args:
        mask: a bool numpy array or torch tensor, 2 or 3 dims.

    Example:
        >>> band = np.zeros((5, 9), bool); band[1:4, 1:8] = True     # a 3-pixel-wide band
        >>> skeleton(band).astype(int)          # thinning leaves a spur into one corner
        array([[0, 0, 0, 0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 1, 0, 0],
               [0, 1, 1, 1, 1, 1, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0, 0, 0, 0]])
    """
    from skimage.morphology import skeletonize

    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be a bool array, got dtype {mask.dtype}")
    if mask.ndim not in (2, 3):
        raise ValueError(f"mask must have 2 or 3 dims, got shape {mask.shape}")
    if not mask.any():
        return mask.copy()
    skel = skeletonize(mask).astype(bool)
    return skel if skel.any() else mask.copy()


def _parts(pred, target, num_classes, include_background, ignore_empty):
    """Skeleton recall and precision per image and class, float64 on the CPU, and the rule
    for the empty cases: ``(recall, precision, empty_target, empty_value)``."""
    include_background = check_bool("include_background", include_background)
    ignore_empty = check_bool("ignore_empty", ignore_empty)
    p, g = hard_masks(pred, target, num_classes, include_background)
    if p.dim() not in (4, 5):
        raise ValueError(f"masks must have 2 or 3 spatial dims, got shape {tuple(p.shape)}")
    p_np, g_np = p.cpu().numpy(), g.cpu().numpy()
    shape = p_np.shape[:2]
    recall, precision = np.zeros(shape), np.zeros(shape)
    empty_target = np.zeros(shape, bool)
    empty_value = np.zeros(shape)
    for n in range(shape[0]):
        for c in range(shape[1]):
            pm, gm = p_np[n, c], g_np[n, c]
            if not gm.any():
                empty_target[n, c] = True
                empty_value[n, c] = np.nan if ignore_empty else float(not pm.any())
                continue
            if not pm.any():
                continue  # nothing found: recall and precision 0
            sg, sp = skeleton(gm), skeleton(pm)
            recall[n, c] = (sg & pm).sum() / sg.sum()
            precision[n, c] = (sp & gm).sum() / sp.sum()
    return recall, precision, empty_target, empty_value, p.device


def _finish(values, empty_target, empty_value, device) -> torch.Tensor:
    values = np.where(empty_target, empty_value, values)
    return torch.from_numpy(values).float().to(device)


def skeleton_recall(pred: torch.Tensor, target: torch.Tensor, include_background: bool = True,
                    ignore_empty: bool = True, num_classes: int | None = None) -> torch.Tensor:
    """The fraction of the ground truth's skeleton covered by the prediction, per image and
    class: ``|S(G) ∩ P| / |S(G)|`` (clDice's topology sensitivity).

    A prediction that is too thick loses nothing; a gap across a vessel, or a thin branch
    left out, loses its length along the centre line.

    Args:
        pred, target: bool masks with one channel per class, or class indices with
            ``num_classes``, as for :func:`~mednotes.metrics.dice_score`.
        include_background: keep class 0; False drops it.
        ignore_empty: an empty ground truth gives NaN; with False, 1 if the prediction is empty
            too, else 0.
        num_classes: the number of classes for class-index masks; None for bool masks.

    Returns:
        ``(N, C')`` float32 in [0, 1] (NaN for an empty ground truth with ``ignore_empty``),
        on the masks' device.

    Shape:
        - pred, target: ``(N, C, *spatial)`` bool, or ``(N, *spatial)`` integer with
          ``num_classes``; 2 or 3 spatial dims

    Explained in: Ophthalmology: retinal vessel segmentation.

    Tested against: a reference written with numpy and ``skimage.morphology.skeletonize`` in
    the tests, and hand cases (a thick prediction of a thin line, a gap in a vessel).

    Example:
        >>> line = torch.zeros(1, 1, 7, 9, dtype=torch.bool); line[0, 0, 3, 1:8] = True
        >>> band = torch.zeros_like(line); band[0, 0, 2:5, :] = True   # 3 pixels thick
        >>> skeleton_recall(band, line)
        tensor([[1.]])
        >>> gap = line.clone(); gap[0, 0, 3, 4] = False               # cut in the middle
        >>> skeleton_recall(gap, line)
        tensor([[0.8571]])
    """
    recall, _, empty, value, device = _parts(pred, target, num_classes, include_background,
                                             ignore_empty)
    return _finish(recall, empty, value, device)


def skeleton_precision(pred: torch.Tensor, target: torch.Tensor,
                       include_background: bool = True, ignore_empty: bool = True,
                       num_classes: int | None = None) -> torch.Tensor:
    """The fraction of the prediction's skeleton inside the ground-truth mask, per image and
    class: ``|S(P) ∩ G| / |S(P)|`` (clDice's topology precision).

    A spurious branch loses its length; an empty prediction against a non-empty ground
    truth scores 0 (it found nothing), not ``0 / 0``.

    Args: as :func:`skeleton_recall`.

    Returns:
        ``(N, C')`` float32 in [0, 1], with the empty-mask rules of :func:`skeleton_recall`.

    Explained in: Ophthalmology: retinal vessel segmentation.

    Tested against: the numpy + scikit-image reference of the tests.

    Example:
        >>> line = torch.zeros(1, 1, 7, 9, dtype=torch.bool); line[0, 0, 3, 1:8] = True
        >>> spur = line.clone(); spur[0, 0, 0:3, 4] = True            # a spurious branch
        >>> skeleton_precision(spur, line)
        tensor([[0.7000]])
    """
    _, precision, empty, value, device = _parts(pred, target, num_classes, include_background,
                                                ignore_empty)
    return _finish(precision, empty, value, device)


def cl_dice(pred: torch.Tensor, target: torch.Tensor, include_background: bool = True,
            ignore_empty: bool = True, num_classes: int | None = None) -> torch.Tensor:
    """clDice (Shit et al., 2021): the harmonic mean of skeleton precision and recall.

    ``clDice = 2 Tprec Tsens / (Tprec + Tsens)`` with ``Tprec = |S(P) ∩ G| / |S(P)|`` and
    ``Tsens = |S(G) ∩ P| / |S(G)|``: high only when the prediction's centre lines lie in the
    vessels and the vessels' centre lines lie in the prediction. It is 0 where both are 0.
    A thick prediction of a thin vessel keeps a clDice near 1 (its skeleton runs along the
    vessel; only the short spurs that thinning leaves at square ends fall outside), while
    its Dice is low.

    Args: as :func:`skeleton_recall`.

    Returns:
        ``(N, C')`` float32 in [0, 1], with the empty-mask rules of :func:`skeleton_recall`.

    Explained in: Ophthalmology: retinal vessel segmentation.

    Tested against: the numpy + scikit-image reference of the tests; a thick prediction of a
    thin line scores clDice 1 and a low Dice; a gap lowers clDice more than Dice.

    Example:
        >>> line = torch.zeros(1, 1, 7, 9, dtype=torch.bool); line[0, 0, 3, 1:8] = True
        >>> band = torch.zeros_like(line); band[0, 0, 2:5, 1:8] = True   # 3 pixels thick
        >>> from mednotes.metrics import dice_score
        >>> cl_dice(band, line), dice_score(band, line)
        (tensor([[0.9091]]), tensor([[0.5000]]))
    """
    recall, precision, empty, value, device = _parts(pred, target, num_classes,
                                                     include_background, ignore_empty)
    total = recall + precision
    score = np.divide(2 * recall * precision, total, out=np.zeros_like(total), where=total > 0)
    return _finish(score, empty, value, device)

"""Loss and metric for lesion segmentation used by the command line and the benchmark.

Small stand-ins until ``mednotes.losses`` exists: cross-entropy plus soft Dice for training,
the Dice of the thresholded prediction for validation. Class 1 is the lesion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mednotes._checks import check_bool, check_tensor


def _check_pair(logits: object, target: object) -> None:
    """Logits ``(N, 2, *spatial)`` and integer class indices ``(N, *spatial)``."""
    check_tensor("logits", logits)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices (e.g. int64), got dtype "
                        f"{target.dtype}")
    if logits.dim() < 2 or logits.shape[1] != 2:
        raise ValueError(f"logits must have shape (N, 2, *spatial) (background, lesion), got "
                         f"{tuple(logits.shape)}")
    expected = tuple(logits.shape[:1] + logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"target shape {tuple(target.shape)} does not match logits shape "
                         f"{tuple(logits.shape)}; expected {expected}")


def dice_ce(logits: torch.Tensor, target: torch.Tensor, per_image: bool = False) -> torch.Tensor:
    """Cross-entropy plus (1 - soft Dice of the lesion class), smoothed by 1.

    By default the Dice pools its sums over the whole batch (MONAI's ``batch=True``), which
    keeps it steady when some images have no lesion. ``per_image=True`` takes the mean of the
    images' own Dice losses instead, so a small lesion weighs as much as a large one (and an
    empty image is penalised for every pixel it calls lesion). A small stand-in until
    ``mednotes.losses`` exists.

    Args:
        logits: ``(N, 2, *spatial)``, floating point (background, lesion).
        target: ``(N, *spatial)`` integer class indices (1 is lesion).
        per_image: average the images' Dice losses instead of pooling the batch.

    Example:
        >>> target = torch.zeros(2, 4, 4, dtype=torch.long); target[0, :2] = 1
        >>> logits = 20.0 * torch.stack([1 - target, target], 1).float()   # confident, right
        >>> pooled, per_image = dice_ce(logits, target), dice_ce(logits, target, per_image=True)
        >>> round(float(pooled), 4), round(float(per_image), 4)
        (0.0, 0.0)
    """
    _check_pair(logits, target)
    per_image = check_bool("per_image", per_image)
    ce = F.cross_entropy(logits, target)
    p = logits.float().softmax(1)[:, 1]
    g = (target == 1).float()
    dims = tuple(range(1, g.ndim)) if per_image else tuple(range(g.ndim))
    dice = (2 * (p * g).sum(dims) + 1) / (p.sum(dims) + g.sum(dims) + 1)
    return ce + (1 - dice).mean()


def lesion_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over images of the Dice of argmax == 1 against target == 1 (1 when both empty).

    Args:
        logits: ``(N, 2, *spatial)``, floating point (background, lesion).
        target: ``(N, *spatial)`` integer class indices (1 is lesion).

    Example:
        >>> target = torch.zeros(1, 4, 4, dtype=torch.long); target[0, :2] = 1
        >>> logits = torch.stack([1 - target, target], 1).float()
        >>> float(lesion_dice(logits, target))
        1.0
    """
    _check_pair(logits, target)
    pred, truth = logits.argmax(1) == 1, target == 1
    dims = tuple(range(1, truth.ndim))
    overlap = (pred & truth).sum(dims).float()
    total = (pred.sum(dims) + truth.sum(dims)).float()
    return torch.where(total > 0, 2 * overlap / total.clamp(min=1), torch.ones_like(total)).mean()

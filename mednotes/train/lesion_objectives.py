"""Loss and metric for lesion segmentation used by the command line and the benchmark.

Small stand-ins until ``mednotes.losses`` exists: cross-entropy plus soft Dice for training,
the Dice of the thresholded prediction for validation. Class 1 is the lesion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dice_ce(logits: torch.Tensor, target: torch.Tensor, per_image: bool = False) -> torch.Tensor:
    """Cross-entropy plus (1 - soft Dice of the lesion class), smoothed by 1.

    By default the Dice pools its sums over the whole batch (MONAI's ``batch=True``), which
    keeps it steady when some images have no lesion. ``per_image=True`` takes the mean of the
    images' own Dice losses instead, so a small lesion weighs as much as a large one (and an
    empty image is penalised for every pixel it calls lesion). A small stand-in until
    ``mednotes.losses`` exists.

    Example:
        >>> target = torch.zeros(2, 4, 4, dtype=torch.long); target[0, :2] = 1
        >>> logits = 20.0 * torch.stack([1 - target, target], 1).float()   # confident, right
        >>> pooled, per_image = dice_ce(logits, target), dice_ce(logits, target, per_image=True)
        >>> round(float(pooled), 4), round(float(per_image), 4)
        (0.0, 0.0)
    """
    ce = F.cross_entropy(logits, target)
    p = logits.float().softmax(1)[:, 1]
    g = (target == 1).float()
    dims = tuple(range(1, g.ndim)) if per_image else tuple(range(g.ndim))
    dice = (2 * (p * g).sum(dims) + 1) / (p.sum(dims) + g.sum(dims) + 1)
    return ce + (1 - dice).mean()


def lesion_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over images of the Dice of argmax == 1 against target == 1 (1 when both empty).

    Example:
        >>> target = torch.zeros(1, 4, 4, dtype=torch.long); target[0, :2] = 1
        >>> logits = torch.stack([1 - target, target], 1).float()
        >>> float(lesion_dice(logits, target))
        1.0
    """
    pred, truth = logits.argmax(1) == 1, target == 1
    dims = tuple(range(1, truth.ndim))
    overlap = (pred & truth).sum(dims).float()
    total = (pred.sum(dims) + truth.sum(dims)).float()
    return torch.where(total > 0, 2 * overlap / total.clamp(min=1), torch.ones_like(total)).mean()

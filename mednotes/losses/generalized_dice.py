"""Generalized Dice (Sudre et al. 2017): one Dice over all classes, weighted per class.

Plain soft Dice averages one ratio per class. The generalized form adds the classes up inside a
single ratio, each weighted by the inverse square of its volume in the target, so that a
lesion of 50 pixels and a background of 60 000 pull equally. It follows MONAI's
``GeneralizedDiceLoss`` with ``w_type="square"``, including its rule for a class that is absent
from the target.
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._amp import autocast_off
from mednotes._checks import check_bool, check_choice, check_number
from mednotes._labels import check_logits, check_reduction, reduce
from mednotes.losses.dice import ACTIVATIONS, _probabilities_and_target, _sum_dims

__all__ = ["GeneralizedDiceLoss", "generalized_dice_loss"]


def generalized_dice_loss(logits: torch.Tensor, target: torch.Tensor,
                          include_background: bool = True, activation: str | None = "softmax",
                          batch: bool = False, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                          reduction: str = "mean") -> torch.Tensor:
    """Generalized Dice loss (Sudre et al. 2017): one Dice over all classes, each class weighted
    by the inverse square of its volume in the target.

    ``1 - (2 Σ_c w_c Σ p g + smooth_nr) / (Σ_c w_c (Σ p + Σ g) + smooth_dr)`` with
    ``w_c = 1 / (Σ g_c)²``, so that a small class counts as much as a large one. A class
    absent from the target would get an infinite weight; as in MONAI, it gets the largest
    finite weight among the classes instead (of that image, or of the batch with
    ``batch=True``), and 0 when every class is absent.

    Args:
        logits, target, include_background, activation: as in :func:`dice_loss`.
        batch: pool the sums (and the class volumes) over the batch.
        smooth_nr, smooth_dr: added to the numerator and the denominator (>= 0).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        A scalar, or with ``reduction="none"`` one loss per image ``(N,)`` (a 0-dim tensor with
        ``batch=True``).

    Shape:
        - logits: ``(N, C, *spatial)``
        - target: ``(N, *spatial)`` or ``(N, C, *spatial)``

    MONAI's ``GeneralizedDiceLoss`` with the same semantics: ``w_type="square"``; the other
    arguments map as in :func:`dice_loss` (MONAI's ``reduction="none"`` gives ``(N, 1, 1, 1)``).

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: MONAI ``GeneralizedDiceLoss``, including images with absent classes,
    forward and backward.

    Example:
        >>> target = torch.zeros(1, 8, dtype=torch.long); target[0, :2] = 1   # 2 of 8 lesion
        >>> logits = torch.zeros(1, 2, 8)                                      # 50/50 everywhere
        >>> from mednotes.losses import dice_loss
        >>> dice_loss(logits, target, reduction="none")            # background, lesion
        tensor([[0.4000, 0.6667]])
        >>> generalized_dice_loss(logits, target)                  # closer to the lesion's
        tensor(0.6250)
    """
    include_background = check_bool("include_background", include_background)
    activation = check_choice("activation", activation, ACTIVATIONS)
    batch = check_bool("batch", batch)
    smooth_nr = check_number("smooth_nr", smooth_nr, low=0.0)
    smooth_dr = check_number("smooth_dr", smooth_dr, low=0.0)
    reduction = check_reduction(reduction)
    logits = check_logits(logits, min_dims=3, layout="(N, C, *spatial)")
    with autocast_off(logits.device.type):
        p, g = _probabilities_and_target(logits, target, activation, include_background)
        dims = _sum_dims(p, batch)
        overlap, total, volume = (p * g).sum(dims), p.sum(dims) + g.sum(dims), g.sum(dims)
        w = _class_weights(volume.detach())
        numerator = 2 * (w * overlap).sum(-1) + smooth_nr
        denominator = (w * total).sum(-1) + smooth_dr
        return reduce(1 - numerator / denominator, reduction)


def _class_weights(volume: torch.Tensor) -> torch.Tensor:
    """``1 / volume²`` along the last dim; an absent class takes the largest finite weight."""
    absent = volume == 0
    w = torch.where(absent, 0.0, 1 / torch.where(absent, 1.0, volume) ** 2)
    return torch.where(absent, w.amax(-1, keepdim=True), w)


class GeneralizedDiceLoss(nn.Module):
    """:func:`generalized_dice_loss` with its options fixed, checked when it is made.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Example:
        >>> loss = GeneralizedDiceLoss(batch=True)
        >>> target = torch.zeros(2, 4, 4, dtype=torch.long); target[0, :2] = 1
        >>> loss(torch.zeros(2, 2, 4, 4), target).shape
        torch.Size([])
    """

    def __init__(self, include_background: bool = True, activation: str | None = "softmax",
                 batch: bool = False, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.options = {
            "include_background": check_bool("include_background", include_background),
            "activation": check_choice("activation", activation, ACTIVATIONS),
            "batch": check_bool("batch", batch),
            "smooth_nr": check_number("smooth_nr", smooth_nr, low=0.0),
            "smooth_dr": check_number("smooth_dr", smooth_dr, low=0.0),
            "reduction": check_reduction(reduction),
        }

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return generalized_dice_loss(logits, target, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())

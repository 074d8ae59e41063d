"""Dice plus cross-entropy: nnU-Net's default loss for segmentation.

Cross-entropy gives every pixel a well-behaved gradient from the first step; Dice keeps a
small foreground from being outvoted by the background. Their sum, each with a weight, trains
well across a wide range of tasks, which is why nnU-Net uses it by default.
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._checks import check_number
from mednotes._labels import check_logits, check_reduction, check_weight_length
from mednotes.losses.cross_entropy import (
    binary_cross_entropy_with_logits,
    cross_entropy,
)
from mednotes.losses.dice import _dice_loss, _dice_options

__all__ = ["DiceCELoss", "dice_ce_loss"]


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor, lambda_dice: float = 1.0,
                 lambda_ce: float = 1.0, include_background: bool = True, squared: bool = False,
                 batch: bool = False, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                 weight=None, label_smoothing: float = 0.0, reduction: str = "mean",
                 ) -> torch.Tensor:
    """``lambda_dice * dice_loss + lambda_ce * cross_entropy`` on one pair of logits and target.

    With several channels both parts read the logits through a softmax: :func:`dice_loss` with
    ``activation="softmax"`` and :func:`cross_entropy`. With one channel both use the sigmoid:
    :func:`dice_loss` with ``activation="sigmoid"`` and
    :func:`binary_cross_entropy_with_logits`. ``include_background``, ``squared``, ``batch``
    and the smoothing terms concern the Dice part only; the cross-entropy always counts every
    class.

    Args:
        logits: the network's output, floating point.
        target: class indices, or one channel per class with the shape of ``logits``.
        lambda_dice, lambda_ce: the weights of the two parts (>= 0).
        include_background, squared, batch, smooth_nr, smooth_dr: as in :func:`dice_loss`.
        weight: one weight per class ``(C,)``, for the cross-entropy and the Dice (as MONAI);
            several channels only.
        label_smoothing: as in :func:`cross_entropy`; several channels only.
        reduction: ``"mean"`` or ``"sum"``, applied to each part before they are added.

    Returns:
        A scalar tensor.

    Shape:
        - logits: ``(N, C, *spatial)``
        - target: ``(N, *spatial)`` or ``(N, C, *spatial)``

    MONAI's ``DiceCELoss`` with the same semantics: ``softmax=True`` (several channels) or
    ``sigmoid=True`` (one channel), ``to_onehot_y=True`` for an index target given as
    ``(N, 1, *spatial)``, ``squared_pred=squared``; ``lambda_dice``, ``lambda_ce``,
    ``include_background``, ``batch``, ``smooth_nr``, ``smooth_dr``, ``weight``,
    ``label_smoothing`` and ``reduction`` keep their names.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: MONAI ``DiceCELoss`` (2D and 3D, index and one-hot targets, weights, label
    smoothing, one channel), forward and backward.

    Example:
        >>> target = torch.zeros(1, 4, 4, dtype=torch.long); target[0, 1:3, 1:3] = 1
        >>> logits = torch.zeros(1, 2, 4, 4)                    # 50/50 everywhere
        >>> from mednotes.losses import cross_entropy, dice_loss
        >>> parts = dice_loss(logits, target), cross_entropy(logits, target)
        >>> bool(dice_ce_loss(logits, target, lambda_dice=2.0) == 2 * parts[0] + parts[1])
        True
    """
    options = _dice_ce_options(lambda_dice, lambda_ce, include_background, squared, batch,
                               smooth_nr, smooth_dr, weight, label_smoothing, reduction)
    return _dice_ce_loss(logits, target, **options)


def _dice_ce_options(lambda_dice, lambda_ce, include_background, squared, batch, smooth_nr,
                     smooth_dr, weight, label_smoothing, reduction) -> dict:
    options = _dice_options(include_background, "softmax", squared, batch, smooth_nr,
                            smooth_dr, weight, check_reduction(reduction, ("mean", "sum")))
    del options["activation"]  # chosen by the number of channels
    options["lambda_dice"] = check_number("lambda_dice", lambda_dice, low=0.0)
    options["lambda_ce"] = check_number("lambda_ce", lambda_ce, low=0.0)
    options["label_smoothing"] = check_number("label_smoothing", label_smoothing, 0.0, 1.0)
    return options


def _dice_ce_loss(logits, target, *, lambda_dice, lambda_ce, label_smoothing, weight,
                  reduction, **dice_options):
    logits = check_logits(logits, min_dims=3, layout="(N, C, *spatial)")
    binary = logits.shape[1] == 1
    if binary and weight is not None:
        raise ValueError("weight gives one weight per class of a softmax; logits has 1 channel "
                         "(sigmoid). Leave weight=None, or use "
                         "binary_cross_entropy_with_logits(pos_weight=...)")
    if binary and label_smoothing > 0:
        raise ValueError("label_smoothing applies to the softmax cross-entropy; logits has 1 "
                         "channel (sigmoid), so leave label_smoothing=0.0")
    check_weight_length("weight", weight, logits.shape[1])
    dice = _dice_loss(logits, target, activation="sigmoid" if binary else "softmax",
                      weight=weight, reduction=reduction, **dice_options)
    if binary:
        ce = binary_cross_entropy_with_logits(logits, target, reduction=reduction)
    else:
        ce = cross_entropy(logits, target, weight=weight, label_smoothing=label_smoothing,
                           reduction=reduction)
    return lambda_dice * dice + lambda_ce * ce


class DiceCELoss(nn.Module):
    """:func:`dice_ce_loss` with its options fixed: a ``loss_fn(logits, target)`` for fit.

    The options are checked when the loss is made; the class weights are a buffer, so they
    follow the module to another device.

    Its arguments (``lambda_dice``, ``lambda_ce``, ``include_background``, ``squared``,
    ``batch``, ``smooth_nr``, ``smooth_dr``, ``weight``, ``label_smoothing``, ``reduction``) are
    those of :func:`dice_ce_loss`.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Example:
        >>> loss = DiceCELoss(include_background=False)
        >>> target = torch.zeros(2, 4, 4, dtype=torch.long); target[:, 1:3, 1:3] = 1
        >>> logits = 20.0 * torch.nn.functional.one_hot(target, 2).permute(0, 3, 1, 2).float()
        >>> round(float(loss(logits, target)), 4)                 # confident and right
        0.0
    """

    def __init__(self, lambda_dice: float = 1.0, lambda_ce: float = 1.0,
                 include_background: bool = True, squared: bool = False, batch: bool = False,
                 smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, weight=None,
                 label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        options = _dice_ce_options(lambda_dice, lambda_ce, include_background, squared, batch,
                                   smooth_nr, smooth_dr, weight, label_smoothing, reduction)
        self.register_buffer("weight", options.pop("weight"))
        self.options = options

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _dice_ce_loss(logits, target, weight=self.weight, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())

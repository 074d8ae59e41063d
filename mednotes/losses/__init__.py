"""Losses for classification and segmentation: cross-entropy, soft Dice, Dice + CE, generalized
Dice.

Each is a function ``loss(logits, target, ...)`` and a module that fixes the options, so that
``fit(model, DiceCELoss(), ...)`` and ``fit(model, functools.partial(dice_loss, batch=True),
...)`` both work. Targets are class indices ``(N, *spatial)`` or one channel per class
``(N, C, *spatial)``; every loss works in 2D and 3D, on any device and under ``torch.autocast``
(sums in float32). The Dice losses follow MONAI's semantics, and each docstring maps the
argument names.

- ``mednotes.losses.cross_entropy``: ``cross_entropy``, ``binary_cross_entropy_with_logits``,
  ``CrossEntropyLoss``
- ``mednotes.losses.dice``: ``dice_loss``, ``DiceLoss``
- ``mednotes.losses.dice_ce``: ``dice_ce_loss``, ``DiceCELoss``
- ``mednotes.losses.generalized_dice``: ``generalized_dice_loss``, ``GeneralizedDiceLoss``

Example:
    >>> import torch
    >>> from mednotes.losses import DiceCELoss
    >>> logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    >>> target = torch.randint(0, 3, (2, 8, 8))
    >>> DiceCELoss()(logits, target).backward()
    >>> logits.grad.shape
    torch.Size([2, 3, 8, 8])
"""

from mednotes.losses.cross_entropy import (
    CrossEntropyLoss,
    binary_cross_entropy_with_logits,
    cross_entropy,
)
from mednotes.losses.dice import DiceLoss, dice_loss
from mednotes.losses.dice_ce import DiceCELoss, dice_ce_loss
from mednotes.losses.generalized_dice import GeneralizedDiceLoss, generalized_dice_loss

__all__ = [
    "CrossEntropyLoss",
    "DiceCELoss",
    "DiceLoss",
    "GeneralizedDiceLoss",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dice_ce_loss",
    "dice_loss",
    "generalized_dice_loss",
]

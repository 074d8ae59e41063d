"""Soft Dice losses: overlap measured on probabilities, so that it has a gradient.

The Dice score of a prediction ``p`` and a ground truth ``g`` is ``2 Σ p g / (Σ p + Σ g)``.
On hard masks it is the overlap metric; on probabilities it is smooth, and ``1 - Dice`` is a
loss. Because it is a ratio per class, a lesion of 50 pixels weighs as much as the 60 000
pixels of background, which is why it helps where cross-entropy drifts to "all background".

The awkward cases follow MONAI's ``DiceLoss`` exactly:

- ``smooth_nr`` and ``smooth_dr`` (1e-5) are added to the numerator and the denominator, so an
  empty class predicted empty scores ``1 - smooth_nr / smooth_dr = 0`` loss instead of 0/0;
- ``include_background=False`` drops channel 0 after the activation (the softmax still sees it);
- ``batch=True`` pools the sums over the batch before dividing (one Dice per class), instead of
  one Dice per image and class.
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._amp import accumulation_dtype, autocast_off
from mednotes._checks import check_bool, check_choice, check_number
from mednotes._labels import (
    check_class_weight,
    check_index_values,
    check_logits,
    check_reduction,
    check_unit_interval,
    check_weight_length,
    is_index_target,
    one_hot,
    reduce,
)

__all__ = ["DiceLoss", "dice_loss"]

ACTIVATIONS = ("softmax", "sigmoid", None)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, include_background: bool = True,
              activation: str | None = "softmax", squared: bool = False, batch: bool = False,
              smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, weight=None,
              reduction: str = "mean") -> torch.Tensor:
    """Soft Dice loss ``1 - (2 Σ p g + smooth_nr) / (Σ p + Σ g + smooth_dr)``, per image and
    class.

    The sums run over the spatial dims (and the batch with ``batch=True``); ``p`` are the
    probabilities after ``activation``, ``g`` the one-hot target.

    Args:
        logits: the network's output, floating point; probabilities in [0, 1] when
            ``activation`` is None.
        target: class indices (integer dtype), or one channel per class with the shape of
            ``logits`` (one-hot or soft labels summing to one for the softmax; any values in
            [0, 1], one mask per channel, for the sigmoid or None). With one channel, the index
            target is the 0/1 foreground mask.
        include_background: keep channel 0; False drops it after the activation.
        activation: ``"softmax"`` over the channels, ``"sigmoid"`` per channel, or None.
        squared: ``Σ p² + Σ g²`` in the denominator (the V-Net form).
        batch: pool the sums over the batch: one Dice per class for the whole batch.
        smooth_nr, smooth_dr: added to the numerator and the denominator (>= 0).
        weight: one weight per channel of ``logits`` (``(C,)``, background included even when
            it is dropped), multiplying each class's loss; None for equal weights.
        reduction: ``"mean"`` or ``"sum"`` of the per-image-and-class losses, or ``"none"``.

    Returns:
        A scalar, or with ``reduction="none"`` the losses ``(N, C')``, ``(C',)`` with
        ``batch=True``, where ``C'`` counts the classes kept. float32 for half-precision logits
        (the sums are accumulated in float32), else their dtype.

    Shape:
        - logits: ``(N, C, *spatial)``, 1 to 3 spatial dims (any number works)
        - target: ``(N, *spatial)`` or ``(N, C, *spatial)``

    MONAI's ``DiceLoss`` with the same semantics: ``include_background`` → the same;
    ``activation="softmax"``/``"sigmoid"`` → ``softmax=True``/``sigmoid=True``; an index
    target → ``to_onehot_y=True`` with the target as ``(N, 1, *spatial)``; ``squared`` →
    ``squared_pred``; ``batch``, ``smooth_nr``, ``smooth_dr`` → the same; ``weight`` →
    ``weight`` without its background entry when ``include_background=False``; MONAI's
    ``reduction="none"`` keeps singleton spatial dims, ``(N, C', 1, 1)``. Where MONAI warns and
    carries on (a softmax over one channel, dropping the only channel), this raises.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: MONAI ``DiceLoss`` over a grid of options, 2D and 3D, forward and
    backward; float64 gradcheck.

    Example:
        >>> target = torch.tensor([[[0, 1, 1, 0]]])                         # (N=1, H=1, W=4)
        >>> probs = torch.tensor([[[[0.9, 0.2, 0.4, 1.0]], [[0.1, 0.8, 0.6, 0.0]]]])
        >>> dice_loss(probs, target, activation=None, reduction="none")     # (N, C)
        tensor([[0.1556, 0.2000]])
        >>> nothing = torch.zeros(1, 1, 1, 4)              # one channel: no foreground anywhere
        >>> dice_loss(nothing, torch.zeros(1, 1, 4, dtype=torch.long), activation=None)
        tensor(0.)
    """
    options = _dice_options(include_background, activation, squared, batch, smooth_nr,
                            smooth_dr, weight, reduction)
    return _dice_loss(logits, target, **options)


def _dice_options(include_background, activation, squared, batch, smooth_nr, smooth_dr,
                  weight, reduction) -> dict:
    return {
        "include_background": check_bool("include_background", include_background),
        "activation": check_choice("activation", activation, ACTIVATIONS),
        "squared": check_bool("squared", squared),
        "batch": check_bool("batch", batch),
        "smooth_nr": check_number("smooth_nr", smooth_nr, low=0.0),
        "smooth_dr": check_number("smooth_dr", smooth_dr, low=0.0),
        "weight": check_class_weight("weight", weight),
        "reduction": check_reduction(reduction),
    }


def _dice_loss(logits, target, *, include_background, activation, squared, batch,
               smooth_nr, smooth_dr, weight, reduction):
    logits = check_logits(logits, min_dims=3, layout="(N, C, *spatial)")
    check_weight_length("weight", weight, logits.shape[1])
    with autocast_off(logits.device.type):
        p, g = _probabilities_and_target(logits, target, activation, include_background)
        dims = _sum_dims(p, batch)
        overlap = (p * g).sum(dims)
        if squared:
            total = (p * p).sum(dims) + (g * g).sum(dims)
        else:
            total = p.sum(dims) + g.sum(dims)
        loss = 1 - (2 * overlap + smooth_nr) / (total + smooth_dr)
        if weight is not None:
            loss = loss * weight[0 if include_background else 1:].to(loss.device, loss.dtype)
        return reduce(loss, reduction)


def _sum_dims(p: torch.Tensor, batch: bool) -> tuple[int, ...]:
    spatial = tuple(range(2, p.dim()))
    return (0, *spatial) if batch else spatial


def _probabilities_and_target(logits: torch.Tensor, target: object, activation: str | None,
                             include_background: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p, g)``, both ``(N, C', *spatial)`` in the accumulation dtype: the probabilities after
    ``activation`` and the target with one channel per class, background dropped if asked.

    Checks the pair on the way: activation and channel count, target shape and values.
    Call it with autocast off.
    """
    channels = logits.shape[1]
    if channels == 1 and activation == "softmax":
        raise ValueError("activation='softmax' over 1 channel gives 1 everywhere; use "
                         "activation='sigmoid' for a single foreground channel")
    if channels == 1 and not include_background:
        raise ValueError("include_background=False drops channel 0, but logits has only 1 "
                         "channel; keep it (include_background=True)")
    indices = is_index_target(logits, target)
    if indices:
        check_index_values("target", target, max(channels, 2))
    else:
        check_unit_interval("target", target, sum_to_one=activation == "softmax",
                            what="values")
    x = logits.to(accumulation_dtype(logits.dtype))
    if activation == "softmax":
        p = x.softmax(1)
    elif activation == "sigmoid":
        p = x.sigmoid()
    else:
        check_unit_interval("logits", x, what="probabilities (activation=None)")
        p = x
    if indices:
        g = target.unsqueeze(1).to(p.dtype) if channels == 1 else one_hot(target, channels,
                                                                           p.dtype)
    else:
        g = target.to(p.dtype)
    if not include_background:
        p, g = p[:, 1:], g[:, 1:]
    return p, g


class DiceLoss(nn.Module):
    """:func:`dice_loss` with its options fixed: a ``loss_fn(logits, target)`` for fit.

    Its arguments (``include_background``, ``activation``, ``squared``, ``batch``,
    ``smooth_nr``, ``smooth_dr``, ``weight``, ``reduction``) are those of :func:`dice_loss`,
    checked here, when the loss is made.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Example:
        >>> loss = DiceLoss(include_background=False)
        >>> target = torch.zeros(2, 4, 4, dtype=torch.long); target[:, 1:3, 1:3] = 1
        >>> round(float(loss(torch.zeros(2, 2, 4, 4), target)), 4)  # 1 - 2·0.5·4 / (0.5·16 + 4)
        0.6667
    """

    def __init__(self, include_background: bool = True, activation: str | None = "softmax",
                 squared: bool = False, batch: bool = False, smooth_nr: float = 1e-5,
                 smooth_dr: float = 1e-5, weight=None, reduction: str = "mean") -> None:
        super().__init__()
        options = _dice_options(include_background, activation, squared, batch, smooth_nr,
                                smooth_dr, weight, reduction)
        self.register_buffer("weight", options.pop("weight"))
        self.options = options

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _dice_loss(logits, target, weight=self.weight, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())

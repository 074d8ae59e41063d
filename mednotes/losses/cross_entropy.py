"""Cross-entropy: the negative log-likelihood of the labels under the network's softmax.

A network that outputs logits ``z`` for ``C`` classes says "class ``c`` with probability
``softmax(z)_c``". The likelihood of the true labels is the product of the probabilities it
gave them; its negative logarithm, averaged over pixels, is the cross-entropy. It is written
here from ``log_softmax`` and a gather, with torch's exact semantics for class weights,
``ignore_index`` and label smoothing, so that the chapter's derivation and ``F.cross_entropy``
give the same number.
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._amp import accumulation_dtype, autocast_off
from mednotes._checks import check_int, check_number
from mednotes._labels import (
    check_class_weight,
    check_index_values,
    check_logits,
    check_reduction,
    check_unit_interval,
    is_index_target,
    reduce,
)

__all__ = ["CrossEntropyLoss", "binary_cross_entropy_with_logits", "cross_entropy"]


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight=None,
                  ignore_index: int = -100, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of logits against class indices or class probabilities.

    For a pixel with label ``y``: ``-w[y] * log softmax(z)[y]``. With label smoothing ``ε`` the
    label becomes the mixture ``(1 - ε) onehot(y) + ε / C``. With class indices and
    ``reduction="mean"`` the sum is divided by the summed weights of the counted pixels (as
    torch does, so weights change the mix of classes, not the scale); with probabilities it is
    divided by the number of pixels.

    Args:
        logits: unnormalised scores, floating point.
        target: class indices (integer dtype), or probabilities with the shape of ``logits``
            (each pixel's channels in [0, 1], summing to one).
        weight: one weight per class, ``(C,)`` tensor or list, or None for equal weights.
        ignore_index: pixels with this label count neither in the sum nor in the mean
            (class-index targets only).
        label_smoothing: ``ε`` in [0, 1].
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per pixel).

    Returns:
        A scalar, or with ``reduction="none"`` a tensor of shape ``(N, *spatial)``; float32
        for half-precision logits (the sums are accumulated in float32), else their dtype.

    Shape:
        - logits: ``(N, C, *spatial)``, no spatial dims for classification
        - target: ``(N, *spatial)`` indices or ``(N, C, *spatial)`` probabilities

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: ``torch.nn.functional.cross_entropy`` (weights, ignore_index, label
    smoothing, both target forms), forward and backward; float64 gradcheck.

    Example:
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> cross_entropy(logits, torch.tensor([0, 0]), reduction="none")
        tensor([0.1269, 2.1269])
    """
    logits = check_logits(logits, min_dims=2, layout="(N, C, *spatial)")
    num_classes = logits.shape[1]
    weight = check_class_weight("weight", weight, num_classes)
    ignore_index = check_int("ignore_index", ignore_index)
    smoothing = check_number("label_smoothing", label_smoothing, 0.0, 1.0)
    reduction = check_reduction(reduction)
    indices = is_index_target(logits, target)
    if indices:
        check_index_values("target", target, num_classes, ignore_index)
    else:
        check_unit_interval("target", target, sum_to_one=True)
    with autocast_off(logits.device.type):
        log_p = logits.to(accumulation_dtype(logits.dtype)).log_softmax(1)
        w = None if weight is None else weight.to(log_p.device, log_p.dtype)
        if indices:
            return _nll_of_indices(log_p, target, w, ignore_index, smoothing, reduction)
        return _nll_of_probabilities(log_p, target.to(log_p.dtype), w, smoothing, reduction)


def _per_class(w: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(C,)`` weights shaped to broadcast along dim 1 of ``like``."""
    return w.view((1, -1) + (1,) * (like.dim() - 2))


def _nll_of_indices(log_p, target, w, ignore_index, smoothing, reduction):
    target = target.long()  # gather and weight lookups need int64 (a uint8 index is a mask)
    counted = target != ignore_index
    label = torch.where(counted, target, 0).unsqueeze(1)
    nll = -log_p.gather(1, label).squeeze(1)
    pixel_weight = counted.to(log_p.dtype)
    if w is not None:
        pixel_weight = pixel_weight * w[label.squeeze(1)]
    loss = (1 - smoothing) * nll * pixel_weight
    if smoothing > 0:
        # every class's log-probability, each with its own class weight (torch's convention)
        spread = -(log_p if w is None else log_p * _per_class(w, log_p)).sum(1)
        loss = loss + smoothing / log_p.shape[1] * spread * counted
    if reduction == "mean":
        return loss.sum() / pixel_weight.sum()
    return reduce(loss, reduction)


def _nll_of_probabilities(log_p, q, w, smoothing, reduction):
    if smoothing > 0:
        q = (1 - smoothing) * q + smoothing / log_p.shape[1]
    if w is not None:
        q = q * _per_class(w, q)
    return reduce(-(q * log_p).sum(1), reduction)


def binary_cross_entropy_with_logits(logits: torch.Tensor, target: torch.Tensor,
                                     pos_weight=None, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy on logits: one independent yes/no per channel and pixel.

    ``-[p_w * y * log σ(z) + (1 - y) * log(1 - σ(z))]``, computed as
    ``p_w * y * softplus(-z) + (1 - y) * softplus(z)``, which never takes the log of 0.

    Args:
        logits: unnormalised scores, floating point.
        target: values in [0, 1] with the shape of ``logits``; for one channel also the
            0/1 mask ``(N, *spatial)``.
        pos_weight: ``(C,)`` weight of the positive term per channel (dim 1), or None.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` with ``reduction="none"``.

    Shape:
        - logits: ``(N, C, *spatial)``
        - target: ``(N, C, *spatial)``, or ``(N, *spatial)`` when ``C == 1``

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: ``torch.nn.functional.binary_cross_entropy_with_logits`` (with
    ``pos_weight`` shaped ``(C, 1, ...)``, which is how torch broadcasts it along dim 1).

    Example:
        >>> logits = torch.tensor([[[3.0, -3.0]]])           # (N=1, C=1, L=2)
        >>> binary_cross_entropy_with_logits(logits, torch.tensor([[[1.0, 0.0]]]))
        tensor(0.0486)
    """
    logits = check_logits(logits, min_dims=2, layout="(N, C, *spatial)")
    reduction = check_reduction(reduction)
    pos_weight = check_class_weight("pos_weight", pos_weight, logits.shape[1])
    if is_index_target(logits, target):
        if logits.shape[1] != 1:
            raise ValueError(f"target of shape {tuple(target.shape)} holds class indices; the "
                             f"binary cross-entropy needs the shape of logits "
                             f"{tuple(logits.shape)} (one 0/1 value per channel)")
        check_index_values("target", target, 2)
        target = target.unsqueeze(1)
    else:
        check_unit_interval("target", target)
    with autocast_off(logits.device.type):
        z = logits.to(accumulation_dtype(logits.dtype))
        y = target.to(z.dtype)
        positive = y * nn.functional.softplus(-z)
        if pos_weight is not None:
            positive = positive * _per_class(pos_weight.to(z.device, z.dtype), z)
        return reduce(positive + (1 - y) * nn.functional.softplus(z), reduction)


class CrossEntropyLoss(nn.Module):
    """:func:`cross_entropy` with its options fixed: a ``loss_fn(logits, target)`` for fit.

    The class weights are a buffer, so they follow the module to another device.

    Args:
        weight, ignore_index, label_smoothing, reduction: as in :func:`cross_entropy`.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Example:
        >>> loss = CrossEntropyLoss(weight=[0.1, 0.9])
        >>> logits, target = torch.zeros(2, 2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long)
        >>> round(float(loss(logits, target)), 4)            # log 2, whatever the weights
        0.6931
    """

    def __init__(self, weight=None, ignore_index: int = -100, label_smoothing: float = 0.0,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("weight", check_class_weight("weight", weight))
        self.ignore_index = check_int("ignore_index", ignore_index)
        self.label_smoothing = check_number("label_smoothing", label_smoothing, 0.0, 1.0)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, target, self.weight, self.ignore_index,
                             self.label_smoothing, self.reduction)

    def extra_repr(self) -> str:
        return (f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, "
                f"reduction={self.reduction!r}")

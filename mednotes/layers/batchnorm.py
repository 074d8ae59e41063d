"""Batch normalisation from scratch.

All normalisations compute ``y = γ * (x - mean) / sqrt(var + eps) + β``; they differ only in
which values the mean and variance are taken over. Batch norm takes them per channel, over the
batch and every position: ``(N, H, W)`` for ``(N, C, H, W)``. Because those statistics depend
on the other images in the batch, a trained network cannot use them when it sees one image at a
time; so during training batch norm keeps running averages of them, and uses those in
evaluation mode.
"""

from __future__ import annotations

import torch

from mednotes._checks import check_bool, check_input, check_number, check_tensor
from mednotes.layers.norm_base import (
    NormBase,
    check_per_channel,
    normalize_with,
    scale_shift,
    standardize,
    update_running,
)

__all__ = ["BatchNorm2d", "BatchNorm3d", "batch_norm"]


# ---------------------------------------------------------------------- batch statistics


def check_batch_values(x: torch.Tensor) -> None:
    """Batch statistics need at least two values per channel; torch raises the same error."""
    count = x.numel() // x.shape[1] if x.shape[1] else 0
    if count == 0:
        raise ValueError(f"x of shape {tuple(x.shape)} is empty: there are no batch statistics")
    if count == 1:
        raise ValueError(
            "Expected more than 1 value per channel when training, got input of shape "
            f"{tuple(x.shape)}: with one value per channel the batch variance is 0 (and the "
            "unbiased one, which running_var averages, is 0/0), so every output would be β. "
            "Use a batch of at least 2, or call .eval() to use the running statistics"
        )


# ----------------------------------------------------------------------------- functional


def batch_norm(
    x: torch.Tensor,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Batch normalisation, same semantics as ``torch.nn.functional.batch_norm``.

    With ``training=True`` it normalises with the statistics of this batch and, when running
    statistics are given, updates them in place: ``running_mean`` with the batch mean and
    ``running_var`` with the *unbiased* batch variance (``count / (count - 1)`` times the one
    used to normalise), each as ``(1 - momentum) * running + momentum * batch``. With
    ``training=False`` it normalises with the running statistics.

    Args:
        x: the batch.
        running_mean, running_var: per-channel running statistics, or None (then
            ``training`` must be True).
        weight, bias: per-channel scale γ and shift β, or None for 1 and 0.
        training: use (and learn from) the batch statistics.
        momentum: weight of the new batch in the running averages, in [0, 1].
        eps: added to the variance so that a constant channel does not divide by zero.

    Shape:
        - x: ``(N, C, *spatial)``; output: the same
        - running_mean, running_var, weight, bias: ``(C,)``

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.functional.batch_norm`` (outputs, gradients, updated buffers).

    Example:
        >>> x = torch.tensor([[[1.0]], [[3.0]]])  # two images, one channel, one value each
        >>> mean, var = torch.zeros(1), torch.ones(1)
        >>> batch_norm(x, mean, var, training=True).flatten()
        tensor([-1.0000,  1.0000])
        >>> mean, var  # moved 10% of the way towards the batch's 2 and (unbiased) 2
        (tensor([0.2000]), tensor([1.1000]))
    """
    x = check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(
            f"x has {x.dim()} dims; batch_norm expects (N, C, *spatial), at least 2 dims"
        )
    check_per_channel(x.shape[1], running_mean=running_mean, running_var=running_var,
                      weight=weight, bias=bias)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var go together: pass both or neither")
    eps = check_number("eps", eps, low=0.0)
    momentum = check_number("momentum", momentum, 0.0, 1.0)
    training = check_bool("training", training)
    if not training:
        if running_mean is None:
            raise ValueError(
                "training=False normalises with running_mean and running_var, but they are "
                "None; pass them, or training=True to use the statistics of the batch"
            )
        return scale_shift(normalize_with(x, running_mean, running_var, eps), weight, bias,
                           x.dtype)

    check_batch_values(x)
    dims = (0, *range(2, x.dim()))
    x_hat, mean, var = standardize(x, dims, eps)
    if running_mean is not None:
        count = x.numel() // x.shape[1]
        update_running(running_mean, mean, momentum)
        # The running variance estimates the population's, so it takes the unbiased estimate.
        update_running(running_var, var * (count / (count - 1)), momentum)
    return scale_shift(x_hat, weight, bias, x.dtype)


# -------------------------------------------------------------------------------- modules


class _BatchNorm(NormBase):
    """Batch norm for any number of spatial dims; subclasses set it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(type(self).__name__, x, self._spatial, channels=self.num_features,
                    channel_arg="num_features", unbatched=False)
        batch_stats = self.training or self.running_mean is None
        if batch_stats:
            # Checked here, before the count below moves, so that a failed call changes nothing.
            check_batch_values(x)
        factor = 0.0 if self.momentum is None else self.momentum
        learn = self.training and self.track_running_stats
        if learn:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                # momentum=None: the running statistics are the plain average of every batch
                # seen so far; batch k then gets weight 1/k.
                factor = 1.0 / float(self.num_batches_tracked)
        # Running statistics are read in evaluation and written while learning, never written
        # in training mode when tracking was switched off.
        use_running = learn or not self.training
        return batch_norm(
            x,
            self.running_mean if use_running else None,
            self.running_var if use_running else None,
            self.weight,
            self.bias,
            training=batch_stats,
            momentum=factor,
            eps=self.eps,
        )


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of 2-D feature maps from scratch, a drop-in for ``nn.BatchNorm2d``.

    In training mode each channel is standardised with the mean and (biased) variance of the
    batch over ``(N, H, W)``, then scaled by γ (``weight``) and shifted by β (``bias``); the
    running statistics move towards the batch's (the variance towards its unbiased estimate)
    and ``num_batches_tracked`` counts the batch. In evaluation mode the running statistics are
    used instead, so an image's output no longer depends on the rest of its batch.

    Args:
        num_features: channels C of the input.
        eps: added to the variance before the square root.
        momentum: weight of each new batch in the running statistics; None for their plain
            (cumulative) average over all batches seen.
        affine: learn γ and β.
        track_running_stats: keep running statistics; when False, batch statistics are used
            in evaluation mode too.
        device, dtype: where and in which dtype to create parameters and buffers.
        bias: with ``affine=True``, whether to learn β (keyword only, as in torch).

    Shape:
        - x: ``(N, C, H, W)``; output: the same

    Raises:
        ValueError: for an input that is not 4-D, has other than ``num_features`` channels,
            or (when batch statistics are used) holds one value per channel.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.BatchNorm2d`` over several optimiser steps (outputs, gradients,
    ``running_mean``, ``running_var``, ``num_batches_tracked``, then evaluation outputs), with
    ``momentum=None``, ``track_running_stats=False`` and ``affine=False``; gradcheck in float64.

    Example:
        >>> bn = BatchNorm2d(3)
        >>> bn
        BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
        >>> x = 5 + 2 * torch.randn(8, 3, 4, 4)
        >>> y = bn(x)  # training mode: batch statistics
        >>> y.mean().abs() < 1e-5, bn.num_batches_tracked
        (tensor(True), tensor(1))
        >>> sorted(bn.state_dict()) == sorted(torch.nn.BatchNorm2d(3).state_dict())
        True
    """

    _spatial = 2


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of 3-D feature maps from scratch, a drop-in for ``nn.BatchNorm3d``.

    Args: as :class:`BatchNorm2d`; statistics are taken over ``(N, D, H, W)``.

    Shape:
        - x: ``(N, C, D, H, W)``; output: the same

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.BatchNorm3d`` over several optimiser steps, as BatchNorm2d.

    Example:
        >>> bn = BatchNorm3d(2)
        >>> x = torch.randn(2, 2, 4, 4, 4)
        >>> for _ in range(3):
        ...     _ = bn(x)
        >>> bn.num_batches_tracked, bn.running_mean.shape
        (tensor(3), torch.Size([2]))
        >>> bn.eval()(x[:1]).shape  # evaluation mode: a single image is fine
        torch.Size([1, 2, 4, 4, 4])
    """

    _spatial = 3


"""What every normalisation layer shares: the arithmetic, the argument checks, the base module.

All of them compute ``y = γ * (x - mean) / sqrt(var + eps) + β``; batch, instance, group and
layer norm differ only in which values the mean and variance are taken over
(:mod:`mednotes.layers.batchnorm`, :mod:`mednotes.layers.norm`).
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._checks import (
    check_bool,
    check_device,
    check_float_dtype,
    check_number,
    check_positive_int,
    check_tensor,
)

__all__ = [
    "NormBase",
    "check_not_empty",
    "check_per_channel",
    "normalize_with",
    "scale_shift",
    "standardize",
    "update_running",
]


def standardize(
    x: torch.Tensor, dims: tuple[int, ...], eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x - mean) / sqrt(var + eps)`` over ``dims``, with that mean and (biased) variance.

    Half-precision inputs (mixed-precision training) are computed in float32: a sum of many
    squares in float16 overflows or loses its small terms.
    """
    work = x.to(torch.promote_types(x.dtype, torch.float32))
    mean = work.mean(dims, keepdim=True)
    centred = work - mean
    # The biased variance (divide by the count, not count - 1) normalises, as in the papers.
    var = (centred * centred).mean(dims, keepdim=True)
    return centred / torch.sqrt(var + eps), mean, var


def normalize_with(
    x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, eps: float
) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` with given per-channel statistics (evaluation mode)."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    work = x.to(torch.promote_types(x.dtype, mean.dtype))
    return (work - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)


def scale_shift(
    x_hat: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, dtype: torch.dtype
) -> torch.Tensor:
    """``γ * x_hat + β`` with one γ and β per channel (dim 1), cast back to the input dtype."""
    shape = (1, -1) + (1,) * (x_hat.dim() - 2)
    if weight is not None:
        x_hat = x_hat * weight.reshape(shape)
    if bias is not None:
        x_hat = x_hat + bias.reshape(shape)
    return x_hat.to(dtype)


def update_running(running: torch.Tensor, batch: torch.Tensor, momentum: float) -> None:
    """``running <- (1 - momentum) * running + momentum * batch``, in place, outside autograd."""
    with torch.no_grad():
        running.mul_(1 - momentum).add_(batch.reshape(-1).to(running.dtype), alpha=momentum)


def check_not_empty(x: torch.Tensor) -> None:
    """Statistics of nothing are NaN: a zero channel or spatial size is refused instead."""
    if 0 in x.shape[1:]:
        raise ValueError(
            f"x is empty: shape {tuple(x.shape)} has a zero channel or spatial size, and the "
            "mean of no values is undefined"
        )


def check_per_channel(channels: int, **tensors: torch.Tensor | None) -> None:
    """Each given tensor must hold one value per channel: shape ``(channels,)``."""
    for name, tensor in tensors.items():
        if tensor is None:
            continue
        check_tensor(name, tensor)
        if tuple(tensor.shape) != (channels,):
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)}; expected ({channels},), one value per "
                f"channel of x"
            )



class NormBase(nn.Module):
    """Parameters, buffers and arguments that batch norm and instance norm share.

    The names and shapes are torch's (``weight``, ``bias``, ``running_mean``, ``running_var``,
    ``num_batches_tracked``), so that state dicts move between the two libraries.
    """

    _spatial: int

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features)
        self.eps = check_number("eps", eps, low=0.0)
        self.momentum = None if momentum is None else check_number("momentum", momentum, 0, 1)
        self.affine = check_bool("affine", affine)
        self.track_running_stats = check_bool("track_running_stats", track_running_stats)
        check_bool("bias", bias)
        factory = {"device": check_device("device", device),
                   "dtype": check_float_dtype("dtype", dtype)}
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, **factory))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = nn.Parameter(torch.empty(num_features, **factory))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            # A count, not a statistic: it stays an integer whatever the parameters' dtype.
            self.register_buffer("num_batches_tracked",
                                 torch.tensor(0, dtype=torch.long, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Forget what was learnt about the data: mean 0, variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Running statistics reset, γ = 1 and β = 0: the layer starts as a pure standardiser."""
        self.reset_running_stats()
        with torch.no_grad():
            if self.weight is not None:
                self.weight.fill_(1)
            if self.bias is not None:
                self.bias.zero_()

    def extra_repr(self) -> str:
        text = (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")
        if self.affine and self.bias is None:
            text += ", bias=False"
        return text + f", track_running_stats={self.track_running_stats}"

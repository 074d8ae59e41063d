"""Normalisations that do not mix images of a batch: instance, group and layer norm.

They compute the same ``γ * (x - mean) / sqrt(var + eps) + β`` as batch norm, with statistics
taken inside each image, so an image's output never depends on the rest of its batch and a batch
of one (common with 3-D medical volumes) is fine. For ``(N, C, H, W)``:

- instance norm: per image and channel, over ``(H, W)``;
- group norm: per image and group of ``C / G`` channels, over ``(C / G, H, W)``; one group is
  layer norm over ``(C, H, W)``, ``C`` groups is instance norm;
- layer norm: per image, over the trailing ``normalized_shape`` dims, with one γ and β per
  element of that shape.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mednotes._amp import autocast_dtype, autocast_off, cast
from mednotes._checks import (
    check_bool,
    check_device,
    check_float_dtype,
    check_input,
    check_number,
    check_positive_int,
    check_tensor,
    ntuple,
)
from mednotes.layers.norm_base import (
    NormBase,
    check_not_empty,
    check_per_channel,
    normalize_with,
    scale_shift,
    standardize,
    update_running,
)

__all__ = [
    "GroupNorm",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "group_norm",
    "instance_norm",
    "layer_norm",
]


# ----------------------------------------------------------------------------- functional


def instance_norm(
    x: torch.Tensor,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Instance normalisation, same semantics as ``torch.nn.functional.instance_norm``.

    Each channel of each image is standardised over its own positions. With running statistics
    given and ``use_input_stats=True``, they move towards the batch's average of the per-image
    means and unbiased variances; with ``use_input_stats=False`` they are used instead.

    Args:
        x: the batch.
        running_mean, running_var: per-channel running statistics, or None.
        weight, bias: per-channel γ and β, or None for 1 and 0.
        use_input_stats: normalise with each image's own statistics.
        momentum: weight of the new batch in the running averages, in [0, 1].
        eps: added to the variance before the square root.

    Shape:
        - x: ``(N, C, *spatial)`` with at least one spatial dim; output: the same
        - running_mean, running_var, weight, bias: ``(C,)``

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.functional.instance_norm``.

    Example:
        >>> x = torch.tensor([[[1.0, 3.0], [10.0, 30.0]]])  # one image, 2 channels, 2 pixels
        >>> instance_norm(x)
        tensor([[[-1.0000,  1.0000],
                 [-1.0000,  1.0000]]])
    """
    x = check_tensor("x", x)
    if x.dim() < 3:
        raise ValueError(
            f"x has {x.dim()} dims; instance_norm expects (N, C, *spatial), at least 3 dims"
        )
    check_per_channel(x.shape[1], running_mean=running_mean, running_var=running_var,
                      weight=weight, bias=bias)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var go together: pass both or neither")
    eps = check_number("eps", eps, low=0.0)
    momentum = check_number("momentum", momentum, 0.0, 1.0)
    use_input_stats = check_bool("use_input_stats", use_input_stats)
    check_not_empty(x)
    if not use_input_stats:
        if running_mean is None:
            raise ValueError(
                "use_input_stats=False normalises with running_mean and running_var, but they "
                "are None; pass them, or use_input_stats=True"
            )
        return scale_shift(normalize_with(x, running_mean, running_var, eps), weight, bias,
                           x.dtype)

    count = math.prod(x.shape[2:])
    if count == 1:
        raise ValueError(
            "Expected more than 1 spatial element when training, got input of shape "
            f"{tuple(x.shape)}: instance statistics are taken over each image's own positions, "
            "and the variance of a single position is 0"
        )
    x_hat, mean, var = standardize(x, tuple(range(2, x.dim())), eps)
    if running_mean is not None:
        update_running(running_mean, mean.mean(0), momentum)
        update_running(running_var, (var * (count / (count - 1))).mean(0), momentum)
    return scale_shift(x_hat, weight, bias, x.dtype)


def group_norm(
    x: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Group normalisation, same semantics as ``torch.nn.functional.group_norm``.

    The channels are split into ``num_groups`` consecutive groups; each group of each image is
    standardised over its channels and positions, then each channel gets its own γ and β.

    Args:
        x: the batch.
        num_groups: how many groups; must divide the channels.
        weight, bias: per-channel γ and β, or None for 1 and 0.
        eps: added to the variance before the square root.

    Shape:
        - x: ``(N, C, *spatial)``; output: the same
        - weight, bias: ``(C,)``

    Raises:
        ValueError: when ``num_groups`` does not divide C, or a group holds a single value
            (its variance is 0: the output would be β whatever the input).

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.functional.group_norm``.

    Example:
        >>> x = torch.tensor([[[1.0], [3.0], [10.0], [30.0]]])  # 4 channels, 1 position
        >>> group_norm(x, num_groups=2).flatten()
        tensor([-1.0000,  1.0000, -1.0000,  1.0000])
    """
    x = check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x has {x.dim()} dims; group_norm expects (N, C, *spatial)")
    num_groups = check_positive_int("num_groups", num_groups)
    channels = x.shape[1]
    if channels % num_groups:
        raise ValueError(
            f"x has {channels} channels, not divisible by num_groups={num_groups}: every group "
            "must hold the same number of channels"
        )
    check_per_channel(channels, weight=weight, bias=bias)
    eps = check_number("eps", eps, low=0.0)
    check_not_empty(x)
    per_group = channels // num_groups * math.prod(x.shape[2:])
    if per_group == 1:
        raise ValueError(
            f"each group holds a single value (x of shape {tuple(x.shape)}, "
            f"num_groups={num_groups}), and the variance of one value is 0, so every output "
            "would be β; use fewer groups or larger feature maps"
        )
    # Under autocast on CUDA torch computes group norm in float32; on the CPU in x's dtype.
    amp = autocast_dtype("float32", x.device.type, "group_norm")
    x, weight, bias = cast(x, amp), cast(weight, amp), cast(bias, amp)
    with autocast_off(x.device.type):
        grouped = x.reshape(x.shape[0], num_groups, per_group)
        x_hat, _, _ = standardize(grouped, (2,), eps)
        return scale_shift(x_hat.reshape(x.shape), weight, bias, x.dtype)


def layer_norm(
    x: torch.Tensor,
    normalized_shape: int | tuple[int, ...],
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Layer normalisation, same semantics as ``torch.nn.functional.layer_norm``.

    Standardises over the trailing dims given by ``normalized_shape``, then applies γ and β
    elementwise (one per element of that shape).

    Args:
        x: any tensor whose trailing dims equal ``normalized_shape``.
        normalized_shape: the trailing shape to normalise over, e.g. ``(C, H, W)``.
        weight, bias: tensors of shape ``normalized_shape``, or None for 1 and 0.
        eps: added to the variance before the square root.

    Shape:
        - x: ``(*, *normalized_shape)``; output: the same

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.functional.layer_norm``.

    Example:
        >>> layer_norm(torch.tensor([[1.0, 3.0], [10.0, 30.0]]), 2)
        tensor([[-1.0000,  1.0000],
                [-1.0000,  1.0000]])
    """
    x = check_tensor("x", x)
    shape = ntuple("normalized_shape", normalized_shape, None, 1)
    if x.dim() < len(shape) or tuple(x.shape[x.dim() - len(shape):]) != shape:
        raise ValueError(
            f"normalized_shape={shape} must equal the last {len(shape)} dims of x, got x of "
            f"shape {tuple(x.shape)}"
        )
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tuple(check_tensor(name, tensor).shape) != shape:
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)}; expected normalized_shape={shape}"
            )
    eps = check_number("eps", eps, low=0.0)
    # Under autocast on CUDA torch computes layer norm in float32; on the CPU in x's dtype.
    amp = autocast_dtype("float32", x.device.type, "layer_norm")
    x, weight, bias = cast(x, amp), cast(weight, amp), cast(bias, amp)
    with autocast_off(x.device.type):
        x_hat, _, _ = standardize(x, tuple(range(-len(shape), 0)), eps)
        if weight is not None:
            x_hat = x_hat * weight
        if bias is not None:
            x_hat = x_hat + bias
        return x_hat.to(x.dtype)


# -------------------------------------------------------------------------------- modules


class _InstanceNorm(NormBase):
    """Instance norm for any number of spatial dims; subclasses set it."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unbatched = check_input(type(self).__name__, x, self._spatial,
                                channels=self.num_features, channel_arg="num_features")
        if unbatched:
            x = x.unsqueeze(0)
        # As torch: momentum=None does not mean a cumulative average here (instance norm does
        # not count batches); the running statistics then stay where they are.
        momentum = self.momentum if self.momentum is not None else 0.0
        y = instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_input_stats=self.training or not self.track_running_stats,
            momentum=momentum,
            eps=self.eps,
        )
        return y.squeeze(0) if unbatched else y


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of 2-D feature maps, a drop-in for ``torch.nn.InstanceNorm2d``.

    Each channel of each image is standardised over its own ``(H, W)``: contrast and brightness
    differences between scans disappear, and the batch size does not matter.

    Args:
        num_features: channels C of the input.
        eps: added to the variance before the square root.
        momentum: weight of each batch in the running statistics (with
            ``track_running_stats=True``); None leaves them unchanged, as in torch.
        affine: learn a per-channel γ and β (torch's default is False).
        track_running_stats: keep running averages of the instance statistics and use them in
            evaluation mode (torch's default is False: instance statistics in both modes).
        device, dtype: where and in which dtype to create parameters and buffers.
        bias: with ``affine=True``, whether to learn β (keyword only).

    Shape:
        - x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``; output: the same

    Raises:
        ValueError: for an input of the wrong number of dims or channels, or with a single
            position (no variance to normalise by). torch only warns about a channel count
            that differs from ``num_features`` when ``affine=False``; we always raise.

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.InstanceNorm2d`` (default, affine, tracked running statistics
    over several steps, unbatched input), and gradcheck in float64.

    Example:
        >>> norm = InstanceNorm2d(3)
        >>> norm
        InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)
        >>> y = norm(10 * torch.rand(1, 3, 8, 8))  # a batch of one is fine
        >>> y.mean((2, 3)).abs().max() < 1e-5
        tensor(True)
    """

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of 3-D feature maps, a drop-in for ``torch.nn.InstanceNorm3d``.

    Args: as :class:`InstanceNorm2d`; statistics over ``(D, H, W)``.

    Shape:
        - x: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``; output: the same

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.InstanceNorm3d``.

    Example:
        >>> InstanceNorm3d(4, affine=True)(torch.rand(4, 6, 6, 6)).shape
        torch.Size([4, 6, 6, 6])
    """

    _spatial = 3


class GroupNorm(nn.Module):
    """Group normalisation from scratch, a drop-in for ``torch.nn.GroupNorm``.

    Args:
        num_groups: how many groups to split the channels into; must divide ``num_channels``.
            1 gives layer norm over ``(C, *spatial)``, ``num_channels`` gives instance norm.
        num_channels: channels C of the input.
        eps: added to the variance before the square root.
        affine: learn a per-channel γ and β.
        device, dtype: where and in which dtype to create the parameters.
        bias: with ``affine=True``, whether to learn β (keyword only, as in torch).

    Shape:
        - x: ``(N, C, *spatial)``; output: the same

    Raises:
        ValueError: when ``num_groups`` does not divide ``num_channels``, for an input with
            other than ``num_channels`` channels, or when a group holds a single value (torch
            raises for that only when the batch holds one image; the output would be β
            whatever the batch size).

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.GroupNorm`` (state dicts both ways, outputs, gradients), and
    gradcheck in float64.

    Example:
        >>> norm = GroupNorm(2, 4)
        >>> norm
        GroupNorm(2, 4, eps=1e-05, affine=True)
        >>> norm(torch.rand(1, 4, 5, 5)).shape
        torch.Size([1, 4, 5, 5])
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_groups = check_positive_int("num_groups", num_groups)
        self.num_channels = check_positive_int("num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(
                f"num_channels={num_channels} is not divisible by num_groups={num_groups}: "
                "every group must hold the same number of channels"
            )
        self.eps = check_number("eps", eps, low=0.0)
        self.affine = check_bool("affine", affine)
        check_bool("bias", bias)
        factory = {"device": check_device("device", device),
                   "dtype": check_float_dtype("dtype", dtype)}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels, **factory))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = nn.Parameter(torch.zeros(num_channels, **factory))
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """γ = 1 and β = 0."""
        with torch.no_grad():
            if self.weight is not None:
                self.weight.fill_(1)
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_tensor("x", x)
        if x.dim() < 2:
            raise ValueError(
                f"GroupNorm expects input (N, C, *spatial) with at least 2 dims, got {x.dim()}D "
                f"input of shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_channels:
            raise ValueError(
                f"x has {x.shape[1]} channels (dim 1 of shape {tuple(x.shape)}), but this "
                f"GroupNorm was built for num_channels={self.num_channels}"
            )
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        text = f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
        return text + (", bias=False" if self.affine and self.bias is None else "")


class LayerNorm(nn.Module):
    """Layer normalisation from scratch, a drop-in for ``torch.nn.LayerNorm``.

    For feature maps ``(N, C, H, W)``, ``normalized_shape=(C, H, W)`` standardises each image
    over all its channels and positions, with one γ and β per element.

    Args:
        normalized_shape: the trailing shape to normalise over, an int or a tuple.
        eps: added to the variance before the square root.
        elementwise_affine: learn γ (and β) of shape ``normalized_shape``.
        bias: with ``elementwise_affine=True``, whether to learn β.
        device, dtype: where and in which dtype to create the parameters.

    Shape:
        - x: ``(*, *normalized_shape)``; output: the same

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.LayerNorm`` (state dicts both ways, outputs, gradients), and
    gradcheck in float64.

    Example:
        >>> norm = LayerNorm((4, 8, 8))
        >>> norm
        LayerNorm((4, 8, 8), eps=1e-05, elementwise_affine=True)
        >>> sum(p.numel() for p in norm.parameters())  # γ and β for each of 4*8*8 elements
        512
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = ntuple("normalized_shape", normalized_shape, None, 1)
        self.eps = check_number("eps", eps, low=0.0)
        self.elementwise_affine = check_bool("elementwise_affine", elementwise_affine)
        check_bool("bias", bias)
        factory = {"device": check_device("device", device),
                   "dtype": check_float_dtype("dtype", dtype)}
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, **factory))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = nn.Parameter(torch.zeros(self.normalized_shape, **factory))
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """γ = 1 and β = 0."""
        with torch.no_grad():
            if self.weight is not None:
                self.weight.fill_(1)
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_tensor("x", x)
        k = len(self.normalized_shape)
        if x.dim() < k or tuple(x.shape[x.dim() - k:]) != self.normalized_shape:
            raise ValueError(
                f"x of shape {tuple(x.shape)} does not end with normalized_shape="
                f"{self.normalized_shape}, the shape this LayerNorm was built for"
            )
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        text = (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
        return text + (", bias=False" if self.elementwise_affine and self.bias is None else "")

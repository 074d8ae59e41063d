"""The building block the networks are made of: convolution, normalisation, activation."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from mednotes.conv import METHODS
from mednotes._checks import check_choice, check_input, check_positive_int, ntuple
from mednotes.layers.activations import ACTIVATIONS, ELU, LeakyReLU, ReLU
from mednotes.layers.batchnorm import BatchNorm2d, BatchNorm3d
from mednotes.layers.conv import Conv2d, Conv3d
from mednotes.layers.norm import GroupNorm, InstanceNorm2d, InstanceNorm3d

__all__ = ["NORMS", "ORDERS", "ConvNormAct"]

#: Normalisations that :class:`ConvNormAct` can build (None: no normalisation).
NORMS = ("batch", "group", "instance", "layer")
#: The orders of its parts; "norm-act-conv" is the pre-activation order of ResNet v2.
ORDERS = ("conv-norm-act", "conv-act-norm", "norm-act-conv")

_CONVS = {2: Conv2d, 3: Conv3d}
_BATCH = {2: BatchNorm2d, 3: BatchNorm3d}
_INSTANCE = {2: InstanceNorm2d, 3: InstanceNorm3d}
_ACTS = {"relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU}


class ConvNormAct(nn.Sequential):
    """Convolution, normalisation and activation in one module, in a chosen order.

    The parts are the children ``conv``, ``norm`` and ``act`` (a part set to None is left
    out), so printing the block shows them and its state dict reads ``conv.weight``,
    ``norm.running_mean`` and so on.

    - ``norm="batch"``: :class:`BatchNorm2d`/``3d`` (γ, β and running statistics).
    - ``norm="group"``: :class:`GroupNorm` with ``norm_groups`` groups.
    - ``norm="instance"``: :class:`InstanceNorm2d`/``3d`` with ``affine=True`` (a learnt γ and
      β, unlike torch's default), so that every norm here has the same parameters.
    - ``norm="layer"``: layer norm over ``(C, *spatial)``, with one γ and β per channel, so
      that it works at any image size; that is ``GroupNorm(1, C)``, and it prints as such.

    Args:
        in_channels: channels coming in.
        out_channels: channels going out (filters of the convolution).
        kernel_size: size of the convolution's kernel, an int or one per spatial dim.
        dim: 2 for images, 3 for volumes.
        norm: ``"batch"``, ``"group"``, ``"instance"``, ``"layer"`` or None.
        act: ``"relu"``, ``"leaky_relu"``, ``"elu"`` or None.
        order: ``"conv-norm-act"``, ``"conv-act-norm"`` or ``"norm-act-conv"``
            (pre-activation: the norm then sees ``in_channels``).
        stride: the convolution's stride.
        padding: ``"same"``, ``"valid"``, an int or one int per spatial dim. ``"same"`` with
            an odd kernel pads ``dilation * (kernel_size - 1) / 2`` on each side, so the output
            has ``ceil(size / stride)`` positions: the input's size at stride 1, and an exact
            halving at stride 2 of an even size. Even kernels allow "same" at stride 1 only.
        dilation: the convolution's dilation.
        bias: whether the convolution has a bias; None (default) decides as explained below.
        norm_groups: groups of ``norm="group"``; must divide the channels the norm sees.
        method: how :mod:`mednotes.conv` computes the convolution.

    The default bias: a convolution directly followed by batch or instance norm gets none,
    because those norms subtract each channel's mean, which removes any per-channel constant
    exactly, and then add their own shift β; a bias there would be a parameter with zero
    gradient. Group and layer norm subtract one mean per group of channels, which does not
    remove a bias that differs between the channels of a group, and in the other orders the
    bias meets an activation or the next layer first: the convolution keeps its bias there.

    Shape:
        - x: ``(N, in_channels, *spatial)``; output: ``(N, out_channels, *spatial_out)``

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: a hand count of the parameters for every norm, order and dim; the same
    block built from torch's own layers; gradcheck in float64.

    Example:
        >>> import torch
        >>> block = ConvNormAct(1, 8, 3)
        >>> block
        ConvNormAct(
          (conv): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
          (norm): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
          (act): ReLU()
        )
        >>> sum(p.numel() for p in block.parameters())  # 8 * 1*3*3 weights, then γ and β
        88
        >>> block(torch.rand(2, 1, 16, 16)).shape
        torch.Size([2, 8, 16, 16])
        >>> ConvNormAct(8, 16, 3, stride=2, norm="group", act="elu")(torch.rand(1, 8, 16, 16)).shape
        torch.Size([1, 16, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...] = 3,
        dim: int = 2,
        norm: str | None = "batch",
        act: str | None = "relu",
        order: str = "conv-norm-act",
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = "same",
        dilation: int | tuple[int, ...] = 1,
        bias: bool | None = None,
        norm_groups: int = 8,
        method: str = "auto",
    ) -> None:
        dim = check_choice("dim", dim, (2, 3))
        if norm is not None:
            check_choice("norm", norm, NORMS + (None,))
        if act is not None:
            check_choice("act", act, ACTIVATIONS + (None,))
        check_choice("order", order, ORDERS)
        check_choice("method", method, METHODS)
        norm_groups = check_positive_int("norm_groups", norm_groups)
        in_channels = check_positive_int("in_channels", in_channels)
        out_channels = check_positive_int("out_channels", out_channels)
        kernel = ntuple("kernel_size", kernel_size, dim, 1)
        strides = ntuple("stride", stride, dim, 1)
        dilations = ntuple("dilation", dilation, dim, 1)
        if bias is None:
            bias = not (order == "conv-norm-act" and norm in ("batch", "instance"))
        elif not isinstance(bias, bool):
            raise TypeError(f"bias must be True, False or None, got {type(bias).__name__}")
        norm_channels = in_channels if order == "norm-act-conv" else out_channels

        parts = {
            "conv": _CONVS[dim](in_channels, out_channels, kernel, stride=strides,
                                padding=_padding(padding, kernel, strides, dilations),
                                dilation=dilations, bias=bias, method=method),
            "norm": _norm(norm, norm_channels, dim, norm_groups),
            "act": _ACTS[act]() if act is not None else None,
        }
        names = order.split("-")
        super().__init__(OrderedDict((n, parts[n]) for n in names if parts[n] is not None))
        self.in_channels, self.out_channels, self.dim = in_channels, out_channels, dim
        self.norm_kind, self.act_kind, self.order = norm, act, order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Checked here, so that a wrong input is named as the block's, not as an intermediate
        # shape deep inside its norm.
        check_input(f"ConvNormAct(dim={self.dim})", x, self.dim, channels=self.in_channels,
                    unbatched=False)
        return super().forward(x)


def _padding(
    padding: int | tuple[int, ...] | str,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> int | tuple[int, ...] | str:
    """Turn "same" into explicit symmetric padding where a kernel's span is odd."""
    if padding != "same":
        return padding  # the convolution checks it
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if all(span % 2 for span in spans):
        return tuple((span - 1) // 2 for span in spans)
    if all(s == 1 for s in stride):
        return "same"  # an even span needs one more zero on one side; the conv handles that
    raise ValueError(
        f"padding='same' with kernel_size={kernel} (even span) needs stride 1, got "
        f"stride={stride}: pass an int padding, or use an odd kernel"
    )


def _norm(kind: str | None, channels: int, dim: int, groups: object) -> nn.Module | None:
    if kind is None:
        return None
    if kind == "batch":
        return _BATCH[dim](channels)
    if kind == "instance":
        return _INSTANCE[dim](channels, affine=True)
    if kind == "layer":
        return GroupNorm(1, channels)
    groups = check_positive_int("norm_groups", groups)
    if channels % groups:
        divisors = [d for d in range(1, channels + 1) if channels % d == 0]
        raise ValueError(
            f"norm_groups={groups} does not divide the {channels} channels that the group norm "
            f"sees; choose one of {divisors}"
        )
    return GroupNorm(groups, channels)

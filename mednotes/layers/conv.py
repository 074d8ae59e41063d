"""Convolution layers: :func:`mednotes.conv.conv2d`/``conv3d`` with learnable filters.

A layer owns two tensors, ``weight`` of shape ``(C_out, C_in / groups, *kernel)`` and an
optional ``bias`` of shape ``(C_out,)``, with the same names, shapes and initial distribution
as ``torch.nn.Conv2d``/``Conv3d``: a state dict moves between the two in either direction and
both give the same outputs. The arithmetic itself is done by :mod:`mednotes.conv`, by the
method that ``method`` names.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mednotes.conv import METHODS, convnd
from mednotes._checks import (
    check_choice,
    check_device,
    check_float_dtype,
    check_input,
    check_positive_int,
    ntuple,
)

__all__ = ["PADDING_MODES", "Conv2d", "Conv3d"]

#: What lies beyond the border: zeros, a mirror image, the edge value repeated, or wrap-around.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(nn.Module):
    """What Conv2d and Conv3d share; subclasses only set the number of spatial dims."""

    _spatial: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        method: str = "auto",
    ) -> None:
        super().__init__()
        n = self._spatial
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.groups = check_positive_int("groups", groups)
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % groups:
                raise ValueError(
                    f"{name}={channels} is not divisible by groups={groups}: each group "
                    "convolves its own equal share of the channels"
                )
        self.kernel_size = ntuple("kernel_size", kernel_size, n, 1)
        self.stride = ntuple("stride", stride, n, 1)
        self.dilation = ntuple("dilation", dilation, n, 1)
        if isinstance(padding, str):
            check_choice("padding", padding, ("same", "valid"))
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"padding='same' needs stride 1, as in torch: a stride of {self.stride} "
                    "shrinks the output, so it cannot keep the input's size; pass an int "
                    "padding such as kernel_size // 2 instead"
                )
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = ntuple("padding", padding, n, 0)
        self.padding_mode = check_choice("padding_mode", padding_mode, PADDING_MODES)
        self.method = check_choice("method", method, METHODS)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {type(bias).__name__} {bias!r}")

        factory = {"device": check_device("device", device),
                   "dtype": check_float_dtype("dtype", dtype)}
        self.weight = nn.Parameter(
            torch.empty(self.out_channels, self.in_channels // self.groups, *self.kernel_size,
                        **factory)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias from torch's default distributions.

        Both are uniform in ``±1/sqrt(fan_in)``, ``fan_in = C_in / groups * kernel area``: a
        unit's output then keeps roughly the scale of its inputs. torch phrases the weight's
        bound as Kaiming-uniform with ``a = sqrt(5)``, that is ``sqrt(3) * gain / sqrt(fan_in)``
        with ``gain = sqrt(2 / (1 + a**2)) = sqrt(1/3)``; we evaluate that same expression,
        in the same order, so that one seed gives bit-identical weights in both libraries.
        """
        fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
        a = math.sqrt(5)
        gain = math.sqrt(2.0 / (1 + a**2))
        weight_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
        with torch.no_grad():
            self.weight.uniform_(-weight_bound, weight_bound)
            if self.bias is not None:
                bias_bound = 1 / math.sqrt(fan_in)
                self.bias.uniform_(-bias_bound, bias_bound)

    def _explicit_padding(self) -> list[int]:
        """Padding as F.pad wants it: (before, after) per dim, the last dim first."""
        if self.padding == "valid":
            pads = [(0, 0)] * self._spatial
        elif self.padding == "same":
            # An odd total puts the extra row at the end, as torch does.
            totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            pads = [(t // 2, t - t // 2) for t in totals]
        else:
            pads = [(p, p) for p in self.padding]
        return [p for pair in reversed(pads) for p in pair]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(type(self).__name__, x, self._spatial, channels=self.in_channels)
        padding = self.padding
        if self.padding_mode != "zeros":
            # mednotes.conv pads with zeros only; other borders are made here, then "valid".
            flat = self._explicit_padding()
            self._check_border(x, flat)
            x = F.pad(x, flat, mode=self.padding_mode)
            padding = 0
        return convnd(x, self.weight, self.bias, self.stride, padding, self.dilation,
                      self.groups, method=self.method)

    def _check_border(self, x: torch.Tensor, flat: list[int]) -> None:
        """A mirror needs more pixels than it reflects; a wrap-around no more than there are."""
        sizes = x.shape[-self._spatial:]
        pads = list(zip(flat[::2], flat[1::2]))[::-1]  # back to the first dim first
        for axis, (size, (before, after)) in enumerate(zip(sizes, pads)):
            widest = max(before, after)
            too_wide = ((self.padding_mode == "reflect" and widest >= size)
                        or (self.padding_mode == "circular" and widest > size))
            if too_wide:
                rule = "less than" if self.padding_mode == "reflect" else "at most"
                raise ValueError(
                    f"padding_mode={self.padding_mode!r} with padding {widest} needs an input "
                    f"{rule} its size along every spatial dim, but spatial dim {axis} of x "
                    f"(shape {tuple(x.shape)}) has size {size}; use a larger input, less "
                    "padding or padding_mode='replicate'"
                )

    def extra_repr(self) -> str:
        # torch's wording, so that printed models read the same in both libraries.
        n = self._spatial
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0,) * n:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        if self.method != "auto":
            text += f", method={self.method!r}"
        return text


class Conv2d(_ConvNd):
    """2-D convolution layer from scratch, a drop-in for ``torch.nn.Conv2d``.

    ``y = conv2d(x, weight, bias)`` with :func:`mednotes.conv.conv2d`, which computes the
    cross-correlation ``y[n, o] = bias[o] + sum_c weight[o, c] ⋆ x[n, c]``.

    Args:
        in_channels: channels of the input, C_in.
        out_channels: channels of the output, C_out (the number of filters).
        kernel_size: filter size, an int or ``(kH, kW)``.
        stride: step between output positions, an int or a pair.
        padding: an int or a pair of zeros added on each side, or ``"same"`` (output as large
            as the input; needs stride 1) or ``"valid"`` (no padding).
        dilation: spacing between kernel taps.
        groups: split the channels into this many independent groups; must divide both
            ``in_channels`` and ``out_channels``.
        bias: whether to learn a per-output-channel bias.
        padding_mode: what lies beyond the border: ``"zeros"``, ``"reflect"``,
            ``"replicate"`` or ``"circular"``.
        device, dtype: where and in which dtype to create the parameters.
        method: how :mod:`mednotes.conv` computes the sum: ``"auto"``, ``"direct"``,
            ``"im2col"``, ``"fft"`` or ``"native"``.

    Shape:
        - x: ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``
        - weight: ``(C_out, C_in / groups, kH, kW)``; bias: ``(C_out,)``
        - output: ``(N, C_out, H_out, W_out)``, sizes by :func:`mednotes.conv.conv_output_size`

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.Conv2d`` (state dicts both ways; outputs and gradients of
    input, weight and bias for strides, paddings, padding modes, dilations, groups, no bias;
    the initial weights for one seed), and ``torch.autograd.gradcheck`` in float64.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> conv = Conv2d(1, 4, 3, padding=1)
        >>> conv
        Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
        >>> reference = torch.nn.Conv2d(1, 4, 3, padding=1)
        >>> conv.load_state_dict(reference.state_dict())
        <All keys matched successfully>
        >>> x = torch.randn(2, 1, 8, 8)
        >>> conv(x).shape, torch.allclose(conv(x), reference(x), atol=1e-6)
        (torch.Size([2, 4, 8, 8]), True)
    """

    _spatial = 2


class Conv3d(_ConvNd):
    """3-D convolution layer from scratch, a drop-in for ``torch.nn.Conv3d``.

    Args: as :class:`Conv2d`, with three spatial dims (depth, height, width).

    Shape:
        - x: ``(N, C_in, D, H, W)`` or unbatched ``(C_in, D, H, W)``
        - weight: ``(C_out, C_in / groups, kD, kH, kW)``; bias: ``(C_out,)``
        - output: ``(N, C_out, D_out, H_out, W_out)``

    Explained in: Building a layer: affine maps, activations and normalization.

    Tested against: ``torch.nn.Conv3d`` (state dicts both ways, outputs and gradients), and
    ``torch.autograd.gradcheck`` in float64.

    Example:
        >>> conv = Conv3d(2, 8, kernel_size=3, stride=2, padding=1, bias=False)
        >>> conv(torch.zeros(1, 2, 16, 16, 16)).shape
        torch.Size([1, 8, 8, 8, 8])
        >>> sum(p.numel() for p in conv.parameters())  # 8 filters of 2 x 3 x 3 x 3
        432
    """

    _spatial = 3

"""Max and average pooling, computed from sliding windows with torch's exact semantics.

A pooling layer slides a window over each channel on its own and summarises what it sees:

    y[n, c, i] = reduce over u of x_padded[n, c, stride*i + dilation*u]

with ``reduce`` the maximum or the mean. Here the windows are views made by
``Tensor.unfold`` (no copy): the computation is one pad, then one unfold and one reduction
per spatial dim (a box window is separable), and autograd derives the backward pass from
those steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mednotes._checks import check_bool, check_input, ntuple, sizes
from mednotes._amp import accumulation_dtype, autocast_dtype, cast_dtype

IntOrTuple = int | Sequence[int]


# ----------------------------------------------------------------------------- functions


def max_pool2d(
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> torch.Tensor:
    """2-D max pooling, same semantics as ``torch.nn.functional.max_pool2d``.

    Args:
        x: input batch, a real floating-point tensor.
        kernel_size: window size, an int or ``(kH, kW)`` (positive).
        stride: step between windows, an int or ``(sH, sW)``; ``None`` (the default) means
            ``kernel_size``, i.e. windows that tile the input without overlap.
        padding: ``-inf`` added on both sides (never wins a maximum), an int or ``(pH, pW)``;
            at most ``kernel_size // 2`` per dim, as torch requires.
        dilation: spacing between the taps of a window (positive).
        ceil_mode: round the number of windows up instead of down, so that a partial window
            at the far end is kept; as in torch, a window is still dropped if it would start
            in the right padding, past the input.

    Shape:
        - x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``
        - output: ``(N, C, H_out, W_out)`` with
          ``H_out = floor_or_ceil((H + 2 pH - dH (kH - 1) - 1) / sH) + 1``

    Ties send the whole gradient to the first maximum in row-major window order, as torch
    does.

    Under ``torch.autocast`` it returns the dtype torch's op returns (its input's); a
    float16/bfloat16 input is pooled in float32 and rounded once, as torch's kernels do.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.nn.functional.max_pool2d`` (float32 and float64, a grid of kernel
    sizes, strides, paddings, dilations and ``ceil_mode``; gradients, and
    ``torch.autograd.gradcheck``; bfloat16 under autocast, and ties on CUDA), on CPU and CUDA.

    Example:
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> max_pool2d(x, 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
        >>> max_pool2d(x, 3, stride=2, ceil_mode=True)
        tensor([[[[10., 11.],
                  [14., 15.]]]])
    """
    return _pool("max_pool2d", "max", 2, x, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d(
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> torch.Tensor:
    """3-D max pooling for volumes, same semantics as ``torch.nn.functional.max_pool3d``.

    Args: as :func:`max_pool2d`, with three spatial dims (depth, height, width).

    Shape:
        - x: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``
        - output: ``(N, C, D_out, H_out, W_out)``, each size as in :func:`max_pool2d`

    Under CPU autocast a float16/bfloat16 volume is pooled and returned in float32, as
    torch's ``max_pool3d`` is (it is on CPU autocast's float32 list).

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.nn.functional.max_pool3d`` (forward, backward, gradcheck, and
    under autocast), on CPU and CUDA.

    Example:
        >>> x = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
        >>> max_pool3d(x, 2).flatten()
        tensor([7.])
    """
    return _pool("max_pool3d", "max", 3, x, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool2d(
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """2-D average pooling, same semantics as ``torch.nn.functional.avg_pool2d``.

    Args:
        x: input batch, a real floating-point tensor.
        kernel_size: window size, an int or ``(kH, kW)`` (positive).
        stride: step between windows; ``None`` (the default) means ``kernel_size``.
        padding: zeros added on both sides, at most ``kernel_size // 2`` per dim.
        ceil_mode: keep a partial window at the far end (see :func:`max_pool2d`).
        count_include_pad: divide by the window size including padded zeros (torch's
            default), or, when ``False``, only by the number of input pixels in the window.

    Shape:
        - x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``
        - output: ``(N, C, H_out, W_out)``, sizes as in :func:`max_pool2d` with dilation 1

    The divisor follows torch exactly, including its rule for a window that ``ceil_mode``
    lets run off the far end: such a window counts the padding zeros it covers, but not the
    positions beyond the padding (``count_include_pad=True``), so a 2×2 window over the last
    row and column of an unpadded input is divided by 1, not 4.

    Under ``torch.autocast`` it returns its input's dtype, as torch's op does; a
    float16/bfloat16 input is summed in float32 and rounded once.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.nn.functional.avg_pool2d`` (float32 and float64, kernel sizes,
    strides, paddings, ``ceil_mode``, both ``count_include_pad``; gradients, gradcheck;
    bfloat16 under autocast against a float64 reference), on CPU and CUDA.

    Example:
        >>> x = torch.ones(1, 1, 3, 3)
        >>> avg_pool2d(x, 2, padding=1)
        tensor([[[[0.2500, 0.5000],
                  [0.5000, 1.0000]]]])
        >>> avg_pool2d(x, 2, padding=1, count_include_pad=False)
        tensor([[[[1., 1.],
                  [1., 1.]]]])
    """
    check_bool("count_include_pad", count_include_pad)
    mode = "avg" if count_include_pad else "avg_exclude_pad"
    return _pool("avg_pool2d", mode, 2, x, kernel_size, stride, padding, 1, ceil_mode)


def avg_pool3d(
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """3-D average pooling for volumes, same semantics as ``torch.nn.functional.avg_pool3d``.

    Args: as :func:`avg_pool2d`, with three spatial dims (depth, height, width).

    Shape:
        - x: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``
        - output: ``(N, C, D_out, H_out, W_out)``

    Under CPU autocast a float16/bfloat16 volume is pooled and returned in float32, as
    torch's ``avg_pool3d`` is. Unlike torch's CPU kernel it also takes bfloat16 without
    autocast (and returns bfloat16).

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.nn.functional.avg_pool3d`` (forward, backward, gradcheck, and
    under autocast), on CPU and CUDA.

    Example:
        >>> x = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
        >>> avg_pool3d(x, 2).flatten()
        tensor([3.5000])
    """
    check_bool("count_include_pad", count_include_pad)
    mode = "avg" if count_include_pad else "avg_exclude_pad"
    return _pool("avg_pool3d", mode, 3, x, kernel_size, stride, padding, 1, ceil_mode)


# ------------------------------------------------------------------------------- modules


class _MaxPoolNd(nn.Module):
    _fn = staticmethod(max_pool2d)

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode
        # Fail when the layer is built, not at the first forward pass deep inside a network.
        _window_args(self._fn.__name__, self._n, kernel_size, stride, padding, dilation)
        check_bool("ceil_mode", ceil_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPoolNd):
    """Module form of :func:`max_pool2d`, a drop-in for ``torch.nn.MaxPool2d``.

    Args: as :func:`max_pool2d`.

    Shape: as :func:`max_pool2d`.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.nn.MaxPool2d``.

    Example:
        >>> MaxPool2d(2)(torch.arange(16.0).reshape(1, 1, 4, 4))
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """

    _n = 2
    _fn = staticmethod(max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """Module form of :func:`max_pool3d`, a drop-in for ``torch.nn.MaxPool3d``.

    Args: as :func:`max_pool2d`, with three spatial dims.

    Shape: as :func:`max_pool3d`.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.nn.MaxPool3d``.

    Example:
        >>> MaxPool3d(2)(torch.zeros(1, 4, 8, 8, 8)).shape
        torch.Size([1, 4, 4, 4, 4])
    """

    _n = 3
    _fn = staticmethod(max_pool3d)


class _AvgPoolNd(nn.Module):
    _fn = staticmethod(avg_pool2d)

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        _window_args(self._fn.__name__, self._n, kernel_size, stride, padding, 1)
        check_bool("ceil_mode", ceil_mode)
        check_bool("count_include_pad", count_include_pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"ceil_mode={self.ceil_mode}, count_include_pad={self.count_include_pad}"
        )


class AvgPool2d(_AvgPoolNd):
    """Module form of :func:`avg_pool2d`, a drop-in for ``torch.nn.AvgPool2d``.

    Args: as :func:`avg_pool2d`.

    Shape: as :func:`avg_pool2d`.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.nn.AvgPool2d``.

    Example:
        >>> AvgPool2d(2)(torch.arange(16.0).reshape(1, 1, 4, 4))
        tensor([[[[ 2.5000,  4.5000],
                  [10.5000, 12.5000]]]])
    """

    _n = 2
    _fn = staticmethod(avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """Module form of :func:`avg_pool3d`, a drop-in for ``torch.nn.AvgPool3d``.

    Args: as :func:`avg_pool2d`, with three spatial dims.

    Shape: as :func:`avg_pool3d`.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.nn.AvgPool3d``.

    Example:
        >>> AvgPool3d(2, stride=1)(torch.ones(1, 1, 3, 3, 3)).shape
        torch.Size([1, 1, 2, 2, 2])
    """

    _n = 3
    _fn = staticmethod(avg_pool3d)


# ---------------------------------------------------------------------------- the engine


def _window_args(
    op: str,
    n: int,
    kernel_size: object,
    stride: object,
    padding: object,
    dilation: object,
) -> tuple[tuple[int, ...], ...]:
    """Checked ``(kernel, stride, padding, dilation)`` tuples, one entry per spatial dim."""
    kernel = ntuple("kernel_size", kernel_size, n, 1)
    strides = kernel if stride is None else ntuple("stride", stride, n, 1)
    pads = ntuple("padding", padding, n, 0)
    dilations = ntuple("dilation", dilation, n, 1)
    # torch's rule (on the kernel size, not the dilated span): with more padding than that a
    # window could lie wholly in the padding and pool nothing but fill values.
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ValueError(
            f"padding must be at most half of kernel_size in every dim (kernel_size // 2, as "
            f"torch requires), got padding={padding!r} with kernel_size={kernel_size!r} in {op}"
        )
    return kernel, strides, pads, dilations


def _output_sizes(
    shape: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    ceil_mode: bool,
) -> tuple[int, ...]:
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilations))
    padded = tuple(s + 2 * p for s, p in zip(shape, pads))
    out = []
    for size, total, span, stride, pad in zip(shape, padded, spans, strides, pads):
        steps = total - span  # negative when the window is larger than the padded input
        count = (-(-steps // stride) if ceil_mode else steps // stride) + 1
        # torch drops a last window that would start in the right padding: it would pool
        # padding only (ceil mode is the only way to get there).
        if ceil_mode and (count - 1) * stride >= size + pad:
            count -= 1
        out.append(count)
    if min(out) < 1:
        with_padding = f" ({sizes(padded)} with padding {sizes(pads)})" if any(pads) else ""
        dilated = (
            f" (kernel_size {sizes(kernel)} with dilation {sizes(dilations)})"
            if any(d > 1 for d in dilations) else ""
        )
        # In ceil mode torch keeps one window that hangs over the end if it starts inside,
        # so a slightly too small input still pools; only say so when it matters.
        rule = (
            "; even with ceil_mode the window may overhang the input by less than one stride"
            if ceil_mode else "; the window must fit inside the (padded) input"
        )
        raise ValueError(
            f"x is {sizes(shape)}{with_padding} but the pooling window is "
            f"{sizes(spans)}{dilated}{rule}"
        )
    return tuple(out)


def _pool(
    op: str,
    mode: str,
    n: int,
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    dilation: IntOrTuple,
    ceil_mode: bool,
) -> torch.Tensor:
    """Pad, take every window as a strided view, reduce it; shared by all four ops."""
    unbatched = check_input(op, x, n)
    kernel, strides, pads, dilations = _window_args(op, n, kernel_size, stride, padding, dilation)
    check_bool("ceil_mode", ceil_mode)
    if unbatched:
        x = x.unsqueeze(0)
    shape = tuple(x.shape[2:])
    out = _output_sizes(shape, kernel, strides, pads, dilations, ceil_mode)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    # The dtype torch's op returns here (CPU autocast runs 3-D pooling in float32; see
    # mednotes._amp), and the one to accumulate in.
    out_dtype = cast_dtype(x.dtype, autocast_dtype("float32", x.device.type, f"{mode}_pool{n}d"))
    x = x.to(accumulation_dtype(out_dtype))

    # Padding on the right: the usual `pad`, plus whatever a ceil-mode window runs past it.
    # Filling with -inf keeps padding out of every maximum; zeros add nothing to a sum.
    right = [
        max(p, (o - 1) * s + w - size - p)
        for o, s, w, size, p in zip(out, strides, spans, shape, pads)
    ]
    flat = [v for p, r in zip(reversed(pads), reversed(right)) for v in (p, r)]
    fill = -math.inf if mode == "max" else 0.0
    padded = F.pad(x, flat, value=fill) if any(flat) else x

    # A window is a box, and both reductions are separable: the max (or sum) over a box is
    # the max (or sum) along one dim of the maxima (sums) along the others. Reducing one dim
    # at a time costs about k + k instead of k * k operations per output of a k×k window.
    # Going from the last dim to the first also keeps torch's rule for ties: max(dim) takes
    # the first maximum along each dim, which is the first in row-major window order, so
    # the gradient reaches the same input pixel as torch's (amax would split it instead).
    y = padded
    for axis in reversed(range(n)):
        dim = 2 + axis
        windows = y.unfold(dim, spans[axis], strides[axis])  # window taps in a new last dim
        # unfold keeps every window that fits; the right padding may fit one more than torch
        windows = windows.narrow(dim, 0, out[axis])
        if dilations[axis] > 1:
            windows = windows[..., :: dilations[axis]]
        y = windows.max(dim=-1).values if mode == "max" else windows.sum(dim=-1)
    if mode != "max":
        y = y / _divisor(mode, shape, out, kernel, strides, pads, y)
    y = y.to(out_dtype)
    return y.squeeze(0) if unbatched else y


def _divisor(
    mode: str,
    shape: tuple[int, ...],
    out: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    y: torch.Tensor,
) -> torch.Tensor | int:
    """How many pixels each average of ``y`` is divided by: an int, or a tensor like ``y``.

    A window is a box, so its count is a product of one count per dim. torch clips a window
    to the padded input first (this is what ceil mode needs) and, without
    ``count_include_pad``, also to the input itself. When no window is clipped (the usual
    case) every count is the window size, and a python int divides without a tensor.
    """
    overhang = any((o - 1) * s - p + k > size + p
                   for size, o, k, s, p in zip(shape, out, kernel, strides, pads))
    if not overhang and (mode == "avg" or not any(pads)):
        return math.prod(kernel)
    # Built where y lives, from arange: no tensor is copied from the host per call.
    divisor = torch.ones((), dtype=y.dtype, device=y.device)
    for size, o, k, s, p in zip(shape, out, kernel, strides, pads):
        start = torch.arange(o, device=y.device) * s - p
        end = torch.clamp(start + k, max=size + p)
        if mode == "avg_exclude_pad":
            start, end = start.clamp(min=0), end.clamp(max=size)
        divisor = divisor.unsqueeze(-1) * (end - start).to(y.dtype)
    return divisor

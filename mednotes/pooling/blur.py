"""Anti-aliased downsampling: blur with a binomial filter, then keep every ``stride``-th pixel.

Subsampling a feature map folds every frequency above the new Nyquist limit onto a lower one
(aliasing), which is why a strided layer's output can change a lot when its input moves by
one pixel. Zhang (2019, "Making Convolutional Networks Shift-Invariant Again") low-passes
before subsampling: ``MaxPool(stride 2)`` becomes ``MaxPool(stride 1)`` then ``BlurPool``.

Conventions follow kornia (``kornia.filters.blur_pool2d`` and ``max_blur_pool2d``), the
peer library we test against: the blur is the normalised binomial filter, the border is
padded with ``(k - 1) // 2`` zeros before and ``k // 2`` after (so an even kernel is anchored
like kornia's ``filter2d``), the blurred map is sampled from index 0, and MaxBlurPool's max
pool runs at stride 1 without padding. Zhang's reference code (``antialiased_cnns``) splits
the padding the same way but reflects the border instead of padding zeros; pass
``padding_mode="reflect"`` for that.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mednotes._checks import (
    check_float_dtype,
    check_bool,
    check_choice,
    check_device,
    check_input,
    check_int,
    ntuple,
    sizes,
)
from mednotes.layers.conv import PADDING_MODES
from mednotes.pooling.classic import max_pool2d, max_pool3d

IntOrTuple = int | Sequence[int]


def binomial_kernel(
    kernel_size: IntOrTuple = 3,
    dims: int = 2,
    dtype: torch.dtype = torch.float32,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The normalised binomial (Pascal-triangle) blur filter in 1, 2 or 3 dims.

    Along each dim the weights are row ``k - 1`` of Pascal's triangle divided by its sum,
    ``C(k-1, i) / 2**(k-1)``; the filter is the outer product of these rows. It is the
    discrete cousin of a Gaussian (a repeated box blur), cheap, and removes most energy
    above half the Nyquist frequency for ``k >= 3``.

    Each weight is computed from exact integers and rounded once, so every size has finite
    weights that sum to 1 up to the rounding of ``dtype``: they are exact (integers over a
    power of two) up to ``k = 12`` in every floating dtype, bfloat16 included, and up to
    ``k = 28`` in float32; the far tails of a very long filter round to 0, as they should
    (``C(1024, 0) / 2**1024`` is below float32's range).

    Args:
        kernel_size: side length, an int or one int per dim (positive); 1 gives ``[1.]``.
        dims: number of dims, 1 to 3.
        dtype: floating dtype of the result (float32 by default).
        device: where to create it (the CPU by default); the weights are computed on the
            CPU and copied once, so any device works, including those without float64.

    Shape:
        - output: ``(k,) * dims``, or ``kernel_size`` when it is a tuple

    Explained in: Pooling, downsampling and aliasing.

    Tested against: the filter of ``kornia.filters.BlurPool2D`` and
    ``scipy.special.comb``; finite weights summing to 1 for sizes up to 4097.

    Example:
        >>> binomial_kernel(3, dims=1)
        tensor([0.2500, 0.5000, 0.2500])
        >>> binomial_kernel(3) * 16
        tensor([[1., 2., 1.],
                [2., 4., 2.],
                [1., 2., 1.]])
    """
    dims = check_int("dims", dims, 1, 3)
    dtype = check_float_dtype("dtype", dtype) or torch.float32
    device = check_device("device", device) or torch.device("cpu")
    sides = ntuple("kernel_size", kernel_size, dims, 1)
    return _binomial(sides, device, dtype).clone()


@functools.lru_cache(maxsize=64)
def _binomial(sides: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The filter, made once per sizes, device and dtype and then reused: a forward pass
    that needs it copies nothing from the host. Callers must not modify it in place."""
    with torch.inference_mode(False):  # a cached tensor must be usable by autograd later
        kernel = torch.ones((), dtype=torch.float64)
        for k in sides:
            kernel = kernel.unsqueeze(-1) * torch.tensor(_pascal_row(k), dtype=torch.float64)
        # dtype first, on the CPU: a device without float64 (Apple MPS) never sees one
        return kernel.to(dtype).to(device)


def _pascal_row(k: int) -> list[float]:
    """``C(k-1, i) / 2**(k-1)`` for ``i = 0 .. k-1``, each correctly rounded to a float.

    The coefficients are exact python integers (each from the last: C(n, i+1) = C(n, i) *
    (n - i) / (i + 1)), and int / int is correctly rounded in python however large both
    grow: no overflow to inf, hence no 0 or NaN weights, for any k.
    """
    n, total = k - 1, 2 ** (k - 1)
    row, c = [], 1
    for i in range(k):
        row.append(c / total)
        c = c * (n - i) // (i + 1)
    return row


# ----------------------------------------------------------------------------- functions


def blur_pool2d(
    x: torch.Tensor, kernel_size: IntOrTuple = 3, stride: IntOrTuple = 2,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """Blur each channel with a binomial filter, then keep every ``stride``-th pixel.

    Args:
        x: input batch, a real floating-point tensor.
        kernel_size: side of the binomial filter (positive; 3 and 5 are usual). An int gives
            a square filter, as in kornia; ``(kH, kW)`` gives a rectangular one.
        stride: subsampling step, an int or ``(sH, sW)`` (positive).
        padding_mode: how the border is extended by ``(k - 1) // 2`` pixels before and
            ``k // 2`` after: ``"zeros"`` (kornia's choice, the default), ``"reflect"``
            (Zhang's reference code), ``"replicate"`` or ``"circular"`` (makes the op exactly
            compatible with circular shifts).

    Shape:
        - x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``
        - output: ``(N, C, ceil(H / sH), ceil(W / sW))``

    The blur is ``torch.nn.functional.conv2d``, so under ``torch.autocast`` it runs and
    returns in the autocast dtype (bfloat16 for a float32 input), as kornia's does.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``kornia.filters.blur_pool2d`` and ``kornia.filters.BlurPool2D``
    (kernel sizes 1 to 5, strides 1 to 4, odd and even sizes, 1 and 3 channels,
    float32/float64, forward and backward, and bfloat16 under autocast) on CPU and CUDA.

    Example:
        >>> blur_pool2d(torch.eye(5)[None, None], 3)
        tensor([[[[0.3125, 0.0625, 0.0000],
                  [0.0625, 0.3750, 0.0625],
                  [0.0000, 0.0625, 0.3125]]]])
    """
    return _blur_pool("blur_pool2d", 2, x, kernel_size, stride, padding_mode)


def blur_pool3d(
    x: torch.Tensor, kernel_size: IntOrTuple = 3, stride: IntOrTuple = 2,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """BlurPool for volumes: a 3-D binomial blur per channel, then subsampling.

    Args: as :func:`blur_pool2d`, with three spatial dims (depth, height, width).

    Shape:
        - x: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``
        - output: ``(N, C, ceil(D / sD), ceil(H / sH), ceil(W / sW))``

    Explained in: Pooling, downsampling and aliasing.

    Tested against: kornia has no 3-D version, so: separability (the same result as the
    1-D binomial filter applied along each axis in turn, with scipy's
    ``ndimage.correlate1d``) and :func:`blur_pool2d` on volumes that are constant along the
    depth axis.

    Example:
        >>> blur_pool3d(torch.ones(1, 1, 4, 4, 4), 3)[0, 0, 1]  # zero padding darkens borders
        tensor([[0.5625, 0.7500],
                [0.7500, 1.0000]])
    """
    return _blur_pool("blur_pool3d", 3, x, kernel_size, stride, padding_mode)


def max_blur_pool2d(
    x: torch.Tensor, kernel_size: IntOrTuple = 3, stride: IntOrTuple = 2,
    max_pool_size: IntOrTuple = 2, ceil_mode: bool = False, padding_mode: str = "zeros",
) -> torch.Tensor:
    """Anti-aliased max pooling: dense max pooling (stride 1), then :func:`blur_pool2d`.

    Args:
        x: input batch, a real floating-point tensor.
        kernel_size: side of the binomial blur filter.
        stride: subsampling step of the blur.
        max_pool_size: window of the stride-1 max pool, which has no padding (as in kornia
            and Zhang's reference code), so it shrinks each side by ``max_pool_size - 1``.
        ceil_mode: accepted for kornia compatibility and has no effect: at stride 1 rounding
            up or down gives the same size (kornia deprecates it for the same reason).
        padding_mode: border of the blur, see :func:`blur_pool2d`.

    Shape:
        - x: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, at least ``max_pool_size`` wide
        - output: ``(N, C, ceil((H - m + 1) / s), ceil((W - m + 1) / s))``,
          ``m = max_pool_size``

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``kornia.filters.max_blur_pool2d`` and ``kornia.filters.MaxBlurPool2D``
    on CPU and CUDA.

    Example:
        >>> max_blur_pool2d(torch.eye(5)[None, None], 3)
        tensor([[[[0.5625, 0.3125],
                  [0.3125, 0.8750]]]])
    """
    check_bool("ceil_mode", ceil_mode)
    check_input("max_blur_pool2d", x, 2)
    dense = max_pool2d(x, _max_window("max_blur_pool2d", 2, max_pool_size, x), stride=1)
    return _blur_pool("max_blur_pool2d", 2, dense, kernel_size, stride, padding_mode)


def max_blur_pool3d(
    x: torch.Tensor, kernel_size: IntOrTuple = 3, stride: IntOrTuple = 2,
    max_pool_size: IntOrTuple = 2, ceil_mode: bool = False, padding_mode: str = "zeros",
) -> torch.Tensor:
    """MaxBlurPool for volumes: dense 3-D max pooling (stride 1), then :func:`blur_pool3d`.

    Args: as :func:`max_blur_pool2d`, with three spatial dims.

    Shape:
        - x: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``
        - output: ``(N, C, D_out, H_out, W_out)``, each as in :func:`max_blur_pool2d`

    Explained in: Pooling, downsampling and aliasing.

    Tested against: the composition of ``torch.nn.functional.max_pool3d`` (stride 1) with a
    separable 1-D binomial blur, and :func:`max_blur_pool2d` on volumes constant along depth.

    Example:
        >>> max_blur_pool3d(torch.ones(1, 2, 5, 5, 5)).shape
        torch.Size([1, 2, 2, 2, 2])
    """
    check_bool("ceil_mode", ceil_mode)
    check_input("max_blur_pool3d", x, 3)
    dense = max_pool3d(x, _max_window("max_blur_pool3d", 3, max_pool_size, x), stride=1)
    return _blur_pool("max_blur_pool3d", 3, dense, kernel_size, stride, padding_mode)


# ------------------------------------------------------------------------------- modules


class _BlurPoolNd(nn.Module):
    _n = 2

    def __init__(
        self, kernel_size: IntOrTuple = 3, stride: IntOrTuple = 2, padding_mode: str = "zeros"
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding_mode = kernel_size, stride, padding_mode
        ntuple("stride", stride, self._n, 1)
        check_choice("padding_mode", padding_mode, PADDING_MODES)
        # A buffer follows the module to its device and dtype; not persistent, so adding
        # anti-aliasing to a network does not change the keys of its state dict.
        self.register_buffer(
            "kernel", binomial_kernel(kernel_size, self._n), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _blur_pool(
            type(self).__name__, self._n, x, self.kernel_size, self.stride,
            self.padding_mode, self.kernel,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding_mode={self.padding_mode!r}"
        )


class BlurPool2d(_BlurPoolNd):
    """Module form of :func:`blur_pool2d`; replaces a strided layer's subsampling.

    Args: as :func:`blur_pool2d`.

    Shape: as :func:`blur_pool2d`.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``kornia.filters.BlurPool2D``.

    Example:
        >>> BlurPool2d(3, stride=2)(torch.ones(1, 1, 4, 4))
        tensor([[[[0.5625, 0.7500],
                  [0.7500, 1.0000]]]])
    """

    _n = 2


class BlurPool3d(_BlurPoolNd):
    """Module form of :func:`blur_pool3d`.

    Args: as :func:`blur_pool2d`, with three spatial dims.

    Shape: as :func:`blur_pool3d`.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: :func:`blur_pool3d`.

    Example:
        >>> BlurPool3d(3)(torch.ones(2, 4, 8, 8, 8)).shape
        torch.Size([2, 4, 4, 4, 4])
    """

    _n = 3


class _MaxBlurPoolNd(_BlurPoolNd):
    def __init__(
        self, kernel_size: IntOrTuple = 3, stride: IntOrTuple = 2,
        max_pool_size: IntOrTuple = 2, ceil_mode: bool = False, padding_mode: str = "zeros",
    ) -> None:
        super().__init__(kernel_size, stride, padding_mode)
        self.max_pool_size, self.ceil_mode = max_pool_size, check_bool("ceil_mode", ceil_mode)
        ntuple("max_pool_size", max_pool_size, self._n, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        check_input(name, x, self._n)
        pool = max_pool2d if self._n == 2 else max_pool3d
        dense = pool(x, _max_window(name, self._n, self.max_pool_size, x), stride=1)
        return _blur_pool(
            name, self._n, dense, self.kernel_size, self.stride, self.padding_mode, self.kernel
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + f", max_pool_size={self.max_pool_size}"


class MaxBlurPool2d(_MaxBlurPoolNd):
    """Module form of :func:`max_blur_pool2d`: the anti-aliased replacement of ``MaxPool2d(2)``.

    Args: as :func:`max_blur_pool2d`.

    Shape: as :func:`max_blur_pool2d`.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``kornia.filters.MaxBlurPool2D``.

    Example:
        >>> MaxBlurPool2d(3)(torch.eye(5)[None, None])
        tensor([[[[0.5625, 0.3125],
                  [0.3125, 0.8750]]]])
    """

    _n = 2


class MaxBlurPool3d(_MaxBlurPoolNd):
    """Module form of :func:`max_blur_pool3d`.

    Args: as :func:`max_blur_pool2d`, with three spatial dims.

    Shape: as :func:`max_blur_pool3d`.

    Explained in: Pooling, downsampling and aliasing.

    Tested against: :func:`max_blur_pool3d`.

    Example:
        >>> MaxBlurPool3d(3)(torch.ones(1, 1, 9, 9, 9)).shape
        torch.Size([1, 1, 4, 4, 4])
    """

    _n = 3


# ---------------------------------------------------------------------------- the engine


def _max_window(op: str, n: int, max_pool_size: object, x: torch.Tensor) -> tuple[int, ...]:
    window = ntuple("max_pool_size", max_pool_size, n, 1)
    shape = tuple(x.shape[-n:])
    if any(s < w for s, w in zip(shape, window)):
        raise ValueError(
            f"x is {sizes(shape)} but the max pooling window of {op} is {sizes(window)} "
            "(max_pool_size, no padding)"
        )
    return window


def _blur_pool(
    op: str,
    n: int,
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple,
    padding_mode: str,
    kernel: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pad, then a depthwise strided convolution with the binomial filter.

    ``kernel`` is a module's buffer; without one (or when the module was left on another
    device than ``x``) the cached filter for ``x``'s device is used.
    """
    unbatched = check_input(op, x, n)
    strides = ntuple("stride", stride, n, 1)
    check_choice("padding_mode", padding_mode, PADDING_MODES)
    if kernel is None or kernel.device != x.device:
        kernel = _binomial(ntuple("kernel_size", kernel_size, n, 1), x.device, x.dtype)
    if unbatched:
        x = x.unsqueeze(0)
    # (k - 1) // 2 before and k // 2 after: the output stays ceil(size / stride) long for
    # every k, and an odd filter is centred on the pixel it replaces.
    flat = []
    for k in reversed(kernel.shape):  # F.pad wants the last dim first
        flat += [(k - 1) // 2, k // 2]
    if padding_mode == "reflect":
        shape = tuple(x.shape[2:])
        if any(p >= s for p, s in zip(reversed(flat[1::2]), shape)):
            raise ValueError(
                f"padding_mode='reflect' needs x larger than the padding in every dim: x is "
                f"{sizes(shape)}, kernel_size {sizes(tuple(kernel.shape))} pads "
                f"{sizes(tuple(reversed(flat[1::2])))} after; use 'zeros' or 'replicate'"
            )
    symmetric = flat[0::2] == flat[1::2]
    conv_padding = 0
    if padding_mode == "zeros" and symmetric:
        conv_padding = tuple(reversed(flat[0::2]))  # odd kernels: the conv pads, no copy
    elif any(flat):
        mode = "constant" if padding_mode == "zeros" else padding_mode
        x = F.pad(x, flat, mode=mode)
    channels = x.shape[1]
    # contiguous: torch's CPU convolution takes a much slower path for an expanded weight.
    # The weight takes x's dtype; under autocast the convolution itself casts both, exactly
    # as it does for kornia's BlurPool or an nn.Conv2d (see mednotes._amp).
    weight = kernel.to(x.dtype).expand(channels, 1, *kernel.shape).contiguous()
    conv = F.conv2d if n == 2 else F.conv3d
    # groups=channels: each channel is blurred on its own (a depthwise convolution)
    y = conv(x, weight, stride=strides, padding=conv_padding, groups=channels)
    return y.squeeze(0) if unbatched else y

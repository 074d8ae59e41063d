"""Network view: ``conv1d``/``conv2d``/``conv3d`` with torch's semantics, computed four ways.

A convolution layer computes, for batch item ``n``, output channel ``o`` and position ``i``,

    y[n, o, i] = bias[o] + sum_c sum_u weight[o, c, u] * x_padded[n, c, stride*i + dilation*u]

which is a cross-correlation (the kernel is not flipped), exactly like
``torch.nn.functional.conv2d``. The methods differ only in how they organise that sum:

- ``"direct"``: one pass per kernel offset ``u``; each pass adds a shifted, strided copy of the
  input, mixed over channels by the weights at ``u``. Few iterations (kernel area, not pixels).
- ``"im2col"``: copy every receptive field into a column (unfold), then one matrix product.
- ``"fft"``: pointwise products of spectra (convolution theorem), channels summed in frequency.
- ``"native"``: torch's own kernel (oneDNN on CPU, cuDNN on CUDA).
- ``"auto"``: ``"fft"`` where measurements on a CPU showed it to be clearly faster than
  ``"native"``, otherwise ``"native"``; see :func:`choose_method`.

Two rules hold for every method:

- Mixed precision: under ``torch.autocast`` the inputs are cast to the autocast dtype, as torch
  does for its own convolutions, and the output comes in that dtype. Half-precision inputs are
  accumulated in float32 by the teaching methods, as torch's kernels do, and rounded once.
- Non-finite values stay local: a NaN or inf pixel spoils only the outputs whose window covers
  it, as with torch. The FFT would smear it over the whole output (every frequency sees every
  pixel), so when ``x`` or ``weight`` holds a NaN or inf, ``"fft"`` computes by ``"direct"``
  instead; the result is the same wherever it is finite.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mednotes._amp import HALF, autocast_dtype, autocast_off, cast
from mednotes._checks import (
    check_choice,
    check_input,
    check_same_device_dtype,
    check_tensor,
    is_int,
    ntuple,
)

METHODS = ("auto", "direct", "im2col", "fft", "native")
#: The padding that may be given by name (any other padding is a number of zeros per side).
PADDING_NAMES = ("same", "valid")

_NATIVE = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

IntOrTuple = int | Sequence[int]
Padding = int | Sequence[int] | str


# ----------------------------------------------------------------------------- public API


def conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    method: str = "auto",
) -> torch.Tensor:
    """1-D convolution layer (cross-correlation), same semantics as ``torch.nn.functional.conv1d``.

    Args: as :func:`conv2d`, with one spatial dim.

    Shape:
        - x: ``(N, C_in, L)`` or unbatched ``(C_in, L)``
        - weight: ``(C_out, C_in / groups, k)``
        - output: ``(N, C_out, L_out)`` (unbatched in, unbatched out)

    Explained in: Convolution and cross-correlation.

    Tested against: ``torch.nn.functional.conv1d``.

    Example:
        >>> x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
        >>> conv1d(x, torch.tensor([[[1.0, -1.0]]]), method="direct")
        tensor([[[-1., -1., -1.]]])
    """
    return _conv("conv1d", 1, x, weight, bias, stride, padding, dilation, groups, method)


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    method: str = "auto",
) -> torch.Tensor:
    """2-D convolution layer (cross-correlation), same semantics as ``torch.nn.functional.conv2d``.

    Args:
        x: input batch, a real floating-point tensor.
        weight: filters; ``weight.shape[1] * groups`` must equal the channels of ``x``.
        bias: optional ``(C_out,)`` tensor added to every output position.
        stride: step between output positions, an int or one int per spatial dim (positive).
        padding: zeros added on both sides, an int or one int per spatial dim (non-negative),
            or ``"valid"`` (no padding) or ``"same"`` (output as large as input; needs stride
            1; an odd total padding puts the extra zero at the end, as torch does).
        dilation: spacing between kernel taps (positive).
        groups: split channels into this many independent groups (positive).
        method: ``"auto"``, ``"direct"``, ``"im2col"``, ``"fft"`` or ``"native"``; all give the
            same result up to rounding and are differentiable on any device.

    Shape:
        - x: ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``
        - weight: ``(C_out, C_in / groups, kH, kW)``
        - output: ``(N, C_out, H_out, W_out)``, sizes given by :func:`conv_output_size`

    Explained in: Convolution and cross-correlation.

    Tested against: ``torch.nn.functional.conv2d`` (float32 and float64, strides, paddings,
    dilations, groups, bias; gradients with ``torch.autograd.gradcheck``).

    Example:
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> w = torch.ones(1, 1, 2, 2)
        >>> conv2d(x, w, method="im2col")
        tensor([[[[10., 14., 18.],
                  [26., 30., 34.],
                  [42., 46., 50.]]]])
        >>> conv2d(x, w, stride=2, method="fft").round()
        tensor([[[[10., 18.],
                  [42., 50.]]]])
    """
    return _conv("conv2d", 2, x, weight, bias, stride, padding, dilation, groups, method)


def conv3d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    method: str = "auto",
) -> torch.Tensor:
    """3-D convolution layer (cross-correlation), same semantics as ``torch.nn.functional.conv3d``.

    Args: as :func:`conv2d`, with three spatial dims (depth, height, width).

    Shape:
        - x: ``(N, C_in, D, H, W)`` or unbatched ``(C_in, D, H, W)``
        - weight: ``(C_out, C_in / groups, kD, kH, kW)``
        - output: ``(N, C_out, D_out, H_out, W_out)``

    Explained in: Convolution and cross-correlation.

    Tested against: ``torch.nn.functional.conv3d``.

    Example:
        >>> x = torch.ones(1, 2, 3, 3, 3)
        >>> conv3d(x, torch.ones(4, 2, 3, 3, 3), padding="same", method="direct").shape
        torch.Size([1, 4, 3, 3, 3])
    """
    return _conv("conv3d", 3, x, weight, bias, stride, padding, dilation, groups, method)


def convnd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    method: str = "auto",
) -> torch.Tensor:
    """Convolution layer in 1, 2 or 3 spatial dims; the number is read from ``weight``.

    Args: as :func:`conv2d`.

    Shape:
        - weight: ``(C_out, C_in / groups, *kernel)`` with 1 to 3 kernel dims
        - x: ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``

    Explained in: Convolution and cross-correlation.

    Tested against: ``torch.nn.functional.conv1d/conv2d/conv3d``.

    Example:
        >>> convnd(torch.ones(1, 1, 5), torch.ones(1, 1, 3), padding=1).flatten().tolist()
        [2.0, 3.0, 3.0, 3.0, 2.0]
    """
    weight = check_tensor("weight", weight)
    n = weight.dim() - 2
    if n not in _NATIVE:
        raise ValueError(
            f"weight has {weight.dim()} dims; expected 3 to 5 (out_channels, in_channels/groups, "
            "then 1 to 3 kernel dims)"
        )
    return _conv(f"conv{n}d", n, x, weight, bias, stride, padding, dilation, groups, method)


# ------------------------------------------------------------------------------- checking


def _conv(
    name: str,
    n: int,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOrTuple,
    padding: Padding,
    dilation: IntOrTuple,
    groups: int,
    method: str,
) -> torch.Tensor:
    """Follow autocast, check every argument once, then hand plain tuples to the method."""
    check_choice("method", method, METHODS)
    device_type = x.device.type if isinstance(x, torch.Tensor) else "cpu"
    lower = autocast_dtype("lower", device_type)
    if lower is not None:  # as torch.autocast does for F.conv2d: float32 inputs cast down
        x, weight, bias = cast(x, lower), cast(weight, lower), cast(bias, lower)
    with autocast_off(device_type):  # our own steps below are not cast a second time
        unbatched = _check_tensors(name, n, x, weight, bias)
        if unbatched:  # torch accepts a single image without the batch dim; so do we
            x = x.unsqueeze(0)
        _check_groups(x.shape[1], weight, groups)
        stride_t = ntuple("stride", stride, n, 1)
        dilation_t = ntuple("dilation", dilation, n, 1)
        kernel = tuple(weight.shape[2:])
        pads = _resolve_padding(padding, kernel, stride_t, dilation_t)
        out_size = _output_size(tuple(x.shape[2:]), kernel, stride_t, pads, dilation_t)

        if method == "auto":
            method = choose_method(x, weight, stride_t, pads, dilation_t, groups)
        if method == "fft" and not _all_finite(x, weight):
            method = "direct"  # an FFT spreads one NaN or inf over every output; see the module
        # An empty batch goes to torch: nothing to teach, and FFTs reject it.
        if method == "native" or x.shape[0] == 0:
            native_padding = padding if isinstance(padding, str) else tuple(p for p, _ in pads)
            y = _NATIVE[n](x, weight, bias, stride_t, native_padding, dilation_t, groups)
        else:
            y = _teaching(method, x, weight, bias, stride_t, pads, dilation_t, groups, out_size)
        return y.squeeze(0) if unbatched else y


def _teaching(
    method: str,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    groups: int,
    out_size: tuple[int, ...],
) -> torch.Tensor:
    """The three teaching methods share one convention: pad first, then a "valid" pass."""
    if x.dtype in HALF:
        # Sums of many half-precision terms lose their small ones; torch's kernels accumulate
        # in float32 and round once at the end, and so do we.
        y = _teaching(method, x.float(), weight.float(), cast(bias, torch.float32), stride,
                      pads, dilation, groups, out_size)
        return y.to(x.dtype)
    if method == "fft":
        # Pad straight to the FFT grid, in one copy: zeros past the end are never read by the
        # outputs we keep, and rfftn then needs no padding of its own.
        pads = tuple(
            (before, after + _fast_size(s + before + after) - (s + before + after))
            for s, (before, after) in zip(x.shape[2:], pads)
        )
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad wants the last dim first
    padded = F.pad(x, flat) if any(flat) else x
    compute = {"direct": _direct, "im2col": _im2col, "fft": _fft}[method]
    y = compute(padded, weight, stride, dilation, groups, out_size)
    if bias is not None:
        y = y + bias.reshape(1, -1, *([1] * len(out_size)))
    return y


def _all_finite(*tensors: torch.Tensor) -> bool:
    """True when no tensor holds a NaN or an infinity (one reduction, one sync each)."""
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def _check_tensors(
    name: str, n: int, x: object, weight: object, bias: object
) -> bool:
    """Types, dims, devices and dtypes of the tensors; True when x has no batch dim."""
    unbatched = check_input(name, x, n)
    check_tensor("weight", weight)
    kernel_names = {1: "k", 2: "kH, kW", 3: "kD, kH, kW"}[n]
    if weight.dim() != n + 2:
        raise ValueError(
            f"weight has {weight.dim()} dims; {name} expects {n + 2} "
            f"(C_out, C_in/groups, {kernel_names})"
        )
    if bias is not None:
        check_tensor("bias", bias)
    check_same_device_dtype("x", x, weight=weight, bias=bias)
    if weight.numel() == 0:
        raise ValueError(f"weight is empty: shape {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"bias has shape {tuple(bias.shape)}; expected ({weight.shape[0]},), one per "
            "output channel"
        )
    return unbatched


def _check_groups(channels: int, weight: torch.Tensor, groups: object) -> None:
    if not is_int(groups):
        raise TypeError(f"groups must be an int, got {type(groups).__name__}")
    if groups < 1:
        raise ValueError(f"groups must be positive, got {groups}")
    out_channels = weight.shape[0]
    if channels % groups:
        raise ValueError(f"x has {channels} channels, not divisible by groups={groups}")
    if out_channels % groups:
        raise ValueError(
            f"weight has {out_channels} output channels, not divisible by groups={groups}"
        )
    if weight.shape[1] * groups != channels:
        raise ValueError(
            f"weight expects {weight.shape[1]}*{groups}={weight.shape[1] * groups} input "
            f"channels (weight.shape[1]*groups), x has {channels}"
        )


def _resolve_padding(
    padding: Padding,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[tuple[int, int], ...]:
    """Padding as ``(before, after)`` per spatial dim."""
    if isinstance(padding, str):
        check_choice("padding", padding, PADDING_NAMES)
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if any(s != 1 for s in stride):
            raise ValueError(f"padding='same' needs stride 1 (as in torch), got stride={stride}")
        # torch puts the odd zero of an odd total at the end; we must match it exactly.
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in ntuple("padding", padding, len(kernel), 0))


def _output_size(
    size: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    out = []
    for axis, (s, k, st, (before, after), d) in enumerate(
        zip(size, kernel, stride, pads, dilation)
    ):
        span = d * (k - 1) + 1
        if s + before + after < span:
            raise ValueError(
                f"x is too small along spatial dim {axis}: size {s} with padding "
                f"({before}, {after}) is {s + before + after}, but the kernel of size {k} with "
                f"dilation {d} spans {span}"
            )
        out.append((s + before + after - span) // st + 1)
    return tuple(out)


# ------------------------------------------------------------------------------- methods


def _direct(
    padded: torch.Tensor,
    weight: torch.Tensor,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    out_size: tuple[int, ...],
) -> torch.Tensor:
    """Sum over kernel offsets of shifted input copies, each mixed over channels."""
    batch, channels = padded.shape[:2]
    out_channels, kernel = weight.shape[0], weight.shape[2:]
    per_group = channels // groups
    xg = padded.reshape(batch, groups, per_group, *padded.shape[2:])
    wg = weight.reshape(groups, out_channels // groups, per_group, *kernel)
    out = None
    for offset in itertools.product(*(range(k) for k in kernel)):
        # The input pixels that meet tap `offset` of the kernel, for every output position.
        window = tuple(
            slice(u * d, u * d + s * (o - 1) + 1, s)
            for u, d, s, o in zip(offset, dilation, stride, out_size)
        )
        shifted = xg[(..., *window)]  # (N, groups, C_in/groups, *out_size)
        term = torch.einsum("goc,ngc...->ngo...", wg[(..., *offset)], shifted)
        out = term if out is None else out + term
    return out.reshape(batch, out_channels, *out_size)


def _im2col(
    padded: torch.Tensor,
    weight: torch.Tensor,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    out_size: tuple[int, ...],
) -> torch.Tensor:
    """Unfold receptive fields into columns, then one (grouped) matrix product."""
    batch, channels = padded.shape[:2]
    out_channels, kernel = weight.shape[0], tuple(weight.shape[2:])
    n = len(kernel)
    if n == 2:
        columns = F.unfold(padded, kernel, dilation=dilation, stride=stride)  # (N, C*kH*kW, L)
    else:
        # Tensor.unfold per spatial dim gives (N, C, *out_size, *span); taking every d-th tap
        # of each span applies the dilation.
        patches = padded
        for axis, (k, d, s) in enumerate(zip(kernel, dilation, stride)):
            patches = patches.unfold(2 + axis, d * (k - 1) + 1, s)
        patches = patches[(..., *(slice(None, None, d) for d in dilation))]
        order = (0, 1, *range(2 + n, 2 + 2 * n), *range(2, 2 + n))  # (N, C, *kernel, *out)
        columns = patches.permute(order)
    # Explicit sizes rather than -1, so that an empty batch (N=0) still reshapes.
    positions, per_column = math.prod(out_size), channels // groups * math.prod(kernel)
    columns = columns.reshape(batch, groups, per_column, positions)
    wg = weight.reshape(groups, out_channels // groups, -1)
    out = torch.matmul(wg, columns)  # (N, groups, C_out/groups, L)
    return out.reshape(batch, out_channels, *out_size)


def _fft(
    padded: torch.Tensor,
    weight: torch.Tensor,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    out_size: tuple[int, ...],
) -> torch.Tensor:
    """Products of spectra; cross-correlation is convolution with the flipped kernel."""
    batch, channels = padded.shape[:2]
    out_channels, n = weight.shape[0], weight.dim() - 2
    dims = tuple(range(-n, 0))
    if any(d > 1 for d in dilation):
        weight = _dilate(weight, dilation)
    span = weight.shape[2:]
    flipped = weight.flip(dims)
    # The signal needs no extra room: circular convolution of the padded input only wraps
    # into the first span-1 outputs along each dim, and we discard those anyway. Rounding up
    # to a size with small prime factors keeps the FFT fast.
    fft_size = [_fast_size(s) for s in padded.shape[2:]]
    spectrum_x = torch.fft.rfftn(padded, s=fft_size, dim=dims)
    spectrum_w = _small_rfftn(flipped, fft_size)
    freq_shape = spectrum_x.shape[2:]
    spectrum_x = spectrum_x.reshape(batch, groups, channels // groups, -1)
    spectrum_w = spectrum_w.reshape(groups, out_channels // groups, channels // groups, -1)
    if channels // groups == 1:
        # One input channel per group (a single-channel image, a depthwise layer): nothing to
        # sum, a broadcast product is enough and skips einsum's reshuffling.
        product = spectrum_x * spectrum_w.reshape(groups, out_channels // groups, -1)
    else:
        # Sum over input channels before the inverse transform: one inverse FFT per output map.
        product = torch.einsum("ngcf,gocf->ngof", spectrum_x, spectrum_w)
    product = product.reshape(batch, out_channels, *freq_shape)
    full = torch.fft.irfftn(product, s=fft_size, dim=dims)
    window = tuple(
        slice(k - 1, k - 1 + s * (o - 1) + 1, s) for k, s, o in zip(span, stride, out_size)
    )
    return full[(..., *window)]


def _small_rfftn(kernel: torch.Tensor, fft_size: list[int]) -> torch.Tensor:
    """``rfftn(kernel, s=fft_size)`` over the trailing dims, one dim at a time.

    Same numbers, less work: transforming the last dim first keeps the other dims at kernel
    size, so the rows that are all padding are never transformed (about 40% faster for a
    15x15 kernel on a 540x540 grid).
    """
    n = len(fft_size)
    spectrum = torch.fft.rfft(kernel, n=fft_size[-1], dim=-1)
    for axis in range(n - 2, -1, -1):
        spectrum = torch.fft.fft(spectrum, n=fft_size[axis], dim=axis - n)
    return spectrum


def _dilate(weight: torch.Tensor, dilation: tuple[int, ...]) -> torch.Tensor:
    """Insert ``d - 1`` zeros between kernel taps (a dilated kernel is a sparse large one)."""
    kernel = weight.shape[2:]
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    out = weight.new_zeros(*weight.shape[:2], *span)
    out[(..., *(slice(None, None, d) for d in dilation))] = weight
    return out


@functools.lru_cache(maxsize=1024)
def _fast_size(n: int) -> int:
    """The smallest even m >= n with no prime factor above 7.

    FFT libraries are fastest on such lengths; a length like 542 = 2 * 271 takes about twice
    as long as 560 on this book's reference CPU, and odd lengths are slower for real FFTs.
    """
    m = n + n % 2
    while True:
        rest = m
        for p in (2, 3, 5, 7):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return m
        m += 2


# ---------------------------------------------------------------------------- auto choice


def choose_method(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    groups: int,
) -> str:
    """The method that ``method="auto"`` runs for these (already checked) arguments.

    ``"fft"`` only when all of these hold, else ``"native"``:

    - the tensors are float32/float64 on the CPU (the model below was measured there; on CUDA
      cuDNN chooses among its own algorithms, FFT-based ones included);
    - stride is 1 (the FFT computes every position, a stride would throw most away);
    - the estimated FFT time, times a safety margin of {margin}, is below the native estimate.

    The estimates, in seconds (``P`` output positions per map, ``K`` kernel taps, ``L`` the
    padded FFT grid, ``Lc`` its half-spectrum, ``c = C_in / groups``, ``o = C_out / groups``)::

        native = {n0:g} + {n1:g} * N*C_out*P + N*C_out*c*P*K / ({rate:g} * min(c*o, 8))
        fft    = {f0:g} + ({fx:g} * (N*C_in + N*C_out) + {fw:g} * C_out*c) * L*log2(L)
                 + {fe:g} * N*C_out*c*Lc

    The native rate grows with the channels because oneDNN vectorises over them: one channel
    runs at about {rate:g} multiply-adds per second, eight or more at about 8x that. The
    constants come from least-squares fits to timings on the book's reference machine (2-core
    x86 CPU, torch 2.13, oneDNN convolutions, MKL FFTs); ``benchmarks/conv.py`` re-checks
    the choice against both goals (never above 1.1x native, at least 3x faster for large kernels).

    Args:
        x: the input before padding, ``(N, C_in, *spatial)``; only its shape, dtype and device
            are read.
        weight: ``(C_out, C_in / groups, *kernel)``.
        stride, dilation: one int per spatial dim.
        pads: ``(before, after)`` zeros per spatial dim.
        groups: channel groups.

    Shape:
        Only the shapes are read; no computation happens.

    Explained in: Convolution and cross-correlation.

    Tested against: the timings printed by ``benchmarks/conv.py``.

    Example:
        >>> x, w = torch.empty(1, 1, 512, 512), torch.empty(1, 1, 15, 15)
        >>> choose_method(x, w, (1, 1), ((7, 7), (7, 7)), (1, 1), 1)
        'fft'
        >>> choose_method(x, w[..., :3, :3], (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
        'native'
    """
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return "native"
    if any(s != 1 for s in stride):
        return "native"
    batch, channels = x.shape[0], x.shape[1]
    out_channels, kernel = weight.shape[0], tuple(weight.shape[2:])
    c, o = channels // groups, out_channels // groups
    padded = [s + before + after for s, (before, after) in zip(x.shape[2:], pads)]
    positions = math.prod(p - d * (k - 1) for p, k, d in zip(padded, kernel, dilation))
    grid = [_fast_size(p) for p in padded]
    points = math.prod(grid)
    half_spectrum = points // grid[-1] * (grid[-1] // 2 + 1)

    m = _COST
    macs = batch * out_channels * c * positions * math.prod(kernel)
    native = (m["n0"] + m["n1"] * batch * out_channels * positions
              + macs / (m["rate"] * min(c * o, 8)))
    transforms = m["fx"] * (batch * channels + batch * out_channels) + m["fw"] * out_channels * c
    fft = (m["f0"] + transforms * points * math.log2(points)
           + m["fe"] * batch * out_channels * c * half_spectrum)
    return "fft" if fft * m["margin"] < native else "native"


# Fitted on the reference machine (see choose_method); seconds, multiply-adds per second.
_COST = {
    "n0": 5e-5, "n1": 2.5e-9, "rate": 8.5e9,
    "f0": 2e-4, "fx": 9e-11, "fw": 1e-10, "fe": 2.5e-9,
    "margin": 1.5,
}
if choose_method.__doc__:  # absent under python -OO
    choose_method.__doc__ = choose_method.__doc__.format(**_COST)

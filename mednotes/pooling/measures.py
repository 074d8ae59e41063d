"""Seeing and measuring aliasing: spectra, shift equivariance of an op, shift consistency of a
classifier, and the sub-pixel roll that both shift measures compare against.

Everything runs on the device of its input, in the input's floating dtype (float32 for half
precision): nothing here makes a float64 tensor on a device unless the input is float64,
so the measures also run on devices without float64 (Apple MPS).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from mednotes._checks import (
    check_float_dtype,
    check_choice,
    check_device,
    check_int,
    check_number,
    check_tensor,
    describe,
    ntuple,
    sizes,
)
from mednotes._amp import HALF

SHIFT_MODES = ("circular", "crop")


# ------------------------------------------------------------------------------ spectra


def spectrum(image: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Centred log-magnitude Fourier spectrum, ``log(1 + |FFT(image)|)``, of each 2-D image.

    The zero frequency (DC) sits at index ``(H // 2, W // 2)`` (``fftshift``); a frequency of
    ``f`` cycles per image along the width appears at columns ``W // 2 ± f``. The FFT is
    unnormalised (numpy's and torch's default), so the DC value is ``log(1 + |sum|)``.

    Args:
        image: a real image ``(H, W)``, or a stack ``(C, H, W)`` or ``(N, C, H, W)`` whose
            last two dims are transformed. A torch tensor or a numpy array; integer images
            (e.g. uint8) are converted to float32.

    Returns:
        The same kind (tensor or array) and shape, with a floating dtype.

    Shape:
        - image: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``
        - output: same as image

    Explained in: Pooling, downsampling and aliasing.

    Tested against: pure sinusoids (peaks exactly at ``W // 2 ± f``) and constant images (DC
    only), and ``numpy.fft.fftshift(numpy.fft.fft2(...))``.

    Example:
        >>> x = torch.cos(2 * torch.pi * 2 * torch.arange(8.0) / 8).expand(8, 8)
        >>> s = spectrum(x)
        >>> (s[4] > 1).nonzero().flatten().tolist()  # the row of zero vertical frequency
        [2, 6]
    """
    if isinstance(image, np.ndarray):
        return spectrum(_from_numpy("image", image, "biufc")).numpy()
    x = _image_tensor("image", image)
    if x.dtype in HALF:  # CPU FFTs have no half precision
        return spectrum(x.float()).to(x.dtype)
    coefficients = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
    return torch.log1p(coefficients.abs())


def frequency_axis(
    size: int, dtype: torch.dtype = torch.float32, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Frequencies in cycles per pixel along one axis of a :func:`spectrum`, in its order.

    Index ``size // 2`` is 0; the ends approach ``±0.5`` (Nyquist). Use it for the axis
    labels or ``extent`` of a spectrum plot.

    Args:
        size: number of pixels along the axis (positive).
        dtype: floating dtype of the result.
        device: where to create it (the CPU by default).

    Shape:
        - output: ``(size,)``

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``numpy.fft.fftshift(numpy.fft.fftfreq(size))``.

    Example:
        >>> frequency_axis(4)
        tensor([-0.5000, -0.2500,  0.0000,  0.2500])
    """
    size = check_int("size", size, minimum=1)
    dtype = check_float_dtype("dtype", dtype) or torch.float32
    device = check_device("device", device)
    return torch.fft.fftshift(torch.fft.fftfreq(size, dtype=dtype, device=device))


def radial_profile(spec: torch.Tensor | np.ndarray) -> tuple:
    """Mean of a centred spectrum over rings of equal frequency: energy against frequency.

    A pixel at frequency ``(fy, fx)`` cycles per pixel (see :func:`frequency_axis`) belongs
    to ring ``round(sqrt(fy**2 + fx**2) * M)``, ``M = min(H, W)``; rings ``0 .. M // 2`` are
    kept (the corners beyond the Nyquist circle are not). Every kept ring holds at least
    the pixel on the axis of the shorter side, so no mean is empty.

    Args:
        spec: a centred spectrum such as :func:`spectrum` returns, ``(..., H, W)``; tensor
            or numpy array, real floating point.

    Returns:
        ``(frequencies, profile)``: frequencies ``(M // 2 + 1,)`` in cycles per pixel (ring
        ``i`` is at ``i / M``) and the profile ``(..., M // 2 + 1)``, one per image, of the
        same kind, dtype and device as ``spec``. ``plt.plot(*radial_profile(s))`` draws it.

    Shape:
        - spec: ``(..., H, W)``
        - output: ``(M // 2 + 1,)`` and ``(..., M // 2 + 1)``

    Explained in: Pooling, downsampling and aliasing.

    Tested against: a hand count of the rings on small grids, and sinusoids whose ring is
    known.

    Example:
        >>> f, p = radial_profile(torch.ones(4, 4))
        >>> f, p
        (tensor([0.0000, 0.2500, 0.5000]), tensor([1., 1., 1.]))
    """
    if isinstance(spec, np.ndarray):
        freqs, profile = radial_profile(_from_numpy("spec", spec, "f"))
        return freqs.numpy(), profile.numpy()
    s = check_tensor("spec", spec)
    if s.dim() < 2:
        raise ValueError(
            f"spec has {s.dim()} dims with shape {tuple(s.shape)}; expected (..., H, W)"
        )
    if 0 in s.shape[-2:]:
        raise ValueError(
            f"spec is empty: shape {tuple(s.shape)} has H×W = {sizes(s.shape[-2:])}; a "
            "spectrum needs at least one pixel"
        )
    height, width = s.shape[-2:]
    index, ring, counts = _rings(height, width, s.device)
    flat = s.flatten(-2).index_select(-1, index)  # an index, not a mask: no device sync
    totals = flat.new_zeros(*flat.shape[:-1], counts.shape[0]).index_add_(-1, ring, flat)
    freqs = torch.arange(counts.shape[0], dtype=s.dtype, device=s.device) / min(height, width)
    return freqs, totals / counts.to(s.dtype)


@functools.lru_cache(maxsize=32)
def _rings(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Which pixels :func:`radial_profile` keeps, their ring, and each ring's pixel count.

    Computed once per size on the CPU (in float64, where every device's rounding agrees)
    and copied to ``device`` once; integer tensors only, so no float64 reaches the device.
    """
    with torch.inference_mode(False):
        m = min(height, width)
        fy = frequency_axis(height, torch.float64)[:, None]
        fx = frequency_axis(width, torch.float64)[None, :]
        ring = torch.round(torch.sqrt(fy**2 + fx**2) * m).to(torch.int64).flatten()
        rings = m // 2 + 1
        index = (ring < rings).nonzero().flatten()  # the corners past Nyquist: no full ring
        ring = ring[index]
        counts = torch.bincount(ring, minlength=rings)
        return tuple(t.to(device) for t in (index, ring, counts))


# ------------------------------------------------------------------ sub-pixel roll


def subpixel_roll(
    x: torch.Tensor, shifts: float | Sequence[float], dims: int | Sequence[int]
) -> torch.Tensor:
    """``torch.roll`` that also takes fractional shifts: band-limited (Fourier) interpolation.

    A whole-number shift is ``torch.roll`` itself (exact). A fractional one uses the shift
    theorem: along dim ``d`` of length ``L``, frequency ``k`` is multiplied by
    ``exp(-2πi k t / L)``, which delays the signal by ``t`` pixels; content leaving one end
    enters the other, as with ``torch.roll``. For an even ``L`` the Nyquist bin keeps only
    its real part (``cos(π t)`` times its value), so a real input stays real. Several dims
    are rolled one after the other. This is what an ideally anti-aliased downsampler's
    output does when its input moves by a non-multiple of its stride.

    Args:
        x: a real floating-point tensor; half precision is computed in float32.
        shifts: pixels to move the content by, a real number (the same along every dim) or
            one per entry of ``dims``; positive moves content to higher indices.
        dims: the dim (or dims) to roll along.

    Returns:
        A tensor of ``x``'s shape, dtype and device.

    Shape:
        - x: any, with at least one dim
        - output: same as x

    Explained in: Pooling, downsampling and aliasing.

    Tested against: ``torch.roll`` for whole shifts, ``scipy.ndimage.fourier_shift`` for
    fractional ones (forward, and the gradient, which is the roll by ``-shift``).

    Example:
        >>> n = torch.arange(8.0)
        >>> wave = lambda t: torch.cos(torch.pi * (n - t) / 4)  # 2 cycles over 8 pixels
        >>> torch.allclose(subpixel_roll(wave(0), 0.5, 0), wave(0.5))
        True
        >>> subpixel_roll(torch.arange(4.0), 1, 0)
        tensor([3., 0., 1., 2.])
    """
    check_tensor("x", x)
    pairs = _roll_pairs(x, shifts, dims)
    y = x
    for dim, t in pairs:
        length = y.shape[dim]
        # The whole part is an exact torch.roll; only the rest, at most half a pixel, goes
        # through the FFT, so the phase ramp stays small and precise even in float32. (The
        # split changes nothing: rolling by w multiplies the Nyquist bin by (-1)**w, and
        # cos(pi (w + f)) = (-1)**w cos(pi f).)
        whole = round(t)
        fraction = t - whole
        if whole % length:
            y = torch.roll(y, whole % length, dim)
        if fraction == 0.0:
            continue
        work = y.float() if y.dtype in HALF else y  # no half-precision FFT on the CPU
        k = torch.fft.rfftfreq(length, d=1.0 / length, dtype=work.dtype, device=y.device)
        phase = torch.polar(torch.ones_like(k), k * (-2 * math.pi * fraction / length))
        phase = phase.reshape(-1, *([1] * (y.dim() - dim - 1)))  # along dim
        coefficients = torch.fft.rfft(work, dim=dim) * phase
        y = torch.fft.irfft(coefficients, n=length, dim=dim).to(x.dtype)
    return y


def _roll_pairs(x: torch.Tensor, shifts: object, dims: object) -> list[tuple[int, float]]:
    """``(dim, shift)`` pairs from :func:`subpixel_roll`'s arguments, checked."""
    if x.dim() == 0:
        raise ValueError("x is a 0-dim tensor; subpixel_roll needs at least one dim to roll")
    dim_list = ntuple("dims", dims, None, None)
    if isinstance(shifts, numbers.Real) and not isinstance(shifts, (bool, np.bool_)):
        shift_list = [shifts] * len(dim_list)
    elif isinstance(shifts, (Sequence, torch.Size)) and not isinstance(shifts, (str, bytes)):
        shift_list = list(shifts)
    else:
        raise TypeError(f"shifts must be a number or a sequence of numbers, got {describe(shifts)}")
    if len(shift_list) != len(dim_list):
        raise ValueError(
            f"shifts has {len(shift_list)} entries but dims has {len(dim_list)}: give one "
            f"shift per dim, got shifts={shifts!r}, dims={dims!r}"
        )
    shift_list = [check_number("shifts", t) for t in shift_list]
    for d in dim_list:
        if not -x.dim() <= d < x.dim():
            raise ValueError(f"dims holds {d}, out of range for x with {x.dim()} dims")
    dim_list = [d % x.dim() for d in dim_list]
    if len(set(dim_list)) != len(dim_list):
        raise ValueError(f"dims must not repeat a dim, got {dims!r}")
    if 0 in x.shape:
        raise ValueError(f"x is empty: shape {tuple(x.shape)}")
    return list(zip(dim_list, shift_list))


# ------------------------------------------------------------------ shift equivariance


def shift_equivariance_error(
    op: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    shift: int | Sequence[int],
    mode: str = "circular",
    stride: int | Sequence[int] | None = None,
    margin: int = 0,
) -> float:
    """How far ``op(shift(x))`` is from the output shift it should produce, ``shift'(op(x))``.

    An op with total stride ``s`` (output ``s`` times smaller) is shift-equivariant when
    moving its input by ``t`` pixels moves its output by ``t / s`` pixels. The measure is
    the relative L2 error over the whole batch,
    ``||op(shift_t(x)) - shift_{t/s}(op(x))|| / ||shift_{t/s}(op(x))||``
    (0 for a perfectly equivariant op; 0.0 also when both are all zero, ``inf`` when only
    the reference is). The two modes differ in what "shift" means:

    - ``"circular"``: the input is rolled with ``torch.roll``, which needs
      ``size == s * output size`` in every dim, and the output by ``t / s`` with
      :func:`subpixel_roll` (band-limited interpolation when ``t / s`` is fractional: the
      answer of an ideally anti-aliased op). Subsampling a sinusoid below the new Nyquist
      limit scores ~0 for every integer shift; one above it, which aliases, scores exactly
      2 (sign flip) for an odd shift. Ops that pad with zeros are not circular: use
      circular padding, or ``"crop"``.
    - ``"crop"``: no wrap-around, nothing made up. Cropping ``t`` pixels off the start of
      ``x`` gives an image whose content sits ``t`` pixels lower than in ``x``; so ``x``
      itself is the shifted image and ``x[t:]`` the reference (for ``t < 0``: ``x[-t:]`` is
      shifted, ``x`` the reference), one dim at a time. The op runs on both, and the outputs
      are compared where they overlap, after dropping ``margin`` output pixels at each end
      (where the padding of the op differs). The shift must be a multiple of the stride.

    Args:
        op: a function or module mapping ``(N, C, *spatial)`` to ``(N, C', *spatial')``;
            it runs under ``torch.no_grad`` and in whatever mode (train/eval) it is in.
        x: input batch, a real floating-point tensor with 1 to 3 spatial dims.
        shift: pixels to move the content by, an int or one int per spatial dim, e.g.
            ``(dy, dx)``; positive moves content to higher indices.
        mode: ``"circular"`` or ``"crop"``.
        stride: total stride of ``op`` per spatial dim; by default inferred from the sizes
            (``input / output``, rounded in crop mode).
        margin: output pixels ignored at each border, crop mode only (non-negative).

    Returns:
        The relative error as a python float.

    Shape:
        - x: ``(N, C, *spatial)``; op(x): ``(N, C', *spatial')`` with as many dims as x

    Explained in: Pooling, downsampling and aliasing.

    Tested against: known answers: the identity (0 for any shift), subsampling of a signal
    with even-index content only (0 for even shifts, exactly 1 for odd ones), sinusoids
    below and above the new Nyquist limit (0 and 2), and the binomial filter's exact
    frequency response for BlurPool.

    Example:
        >>> x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> shift_equivariance_error(lambda v: v[..., ::2, ::2], x, 2)
        0.0
        >>> shift_equivariance_error(lambda v: v, x, (1, -3), mode="crop")
        0.0
    """
    shifts, strides = _equivariance_args(op, x, shift, mode, stride, margin)
    with torch.no_grad():
        if mode == "circular":
            moved, expected = _circular_pair(op, x, shifts, strides)
        else:
            moved, expected = _crop_pair(op, x, shifts, strides, margin)
    return _relative_error(moved, expected)


def _equivariance_args(
    op: object, x: object, shift: object, mode: object, stride: object, margin: object
) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """The checked shifts and strides (None: infer them) of :func:`shift_equivariance_error`."""
    if not callable(op):
        raise TypeError(f"op must be callable (a function or module), got {type(op).__name__}")
    _batch_tensor("x", x)
    n = x.dim() - 2
    shifts = ntuple("shift", shift, n, None)
    check_choice("mode", mode, SHIFT_MODES)
    margin = check_int("margin", margin, minimum=0)
    if margin and mode == "circular":
        raise ValueError(
            f"margin={margin} applies to mode='crop' only; a circular shift has no border"
        )
    strides = None if stride is None else ntuple("stride", stride, n, 1)
    if mode == "crop":
        for axis, (t, size) in enumerate(zip(shifts, x.shape[2:])):
            if abs(t) >= size:
                raise ValueError(
                    f"shift {t} along spatial dim {axis} leaves nothing to compare: x is "
                    f"{size} pixels wide there (mode='crop' needs |shift| < size)"
                )
    return shifts, strides


def _circular_pair(
    op: Callable, x: torch.Tensor, shifts: tuple[int, ...], strides: tuple[int, ...] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``op(roll_t(x))`` and what it should be, ``roll_{t/s}(op(x))``."""
    dims = tuple(range(2, x.dim()))
    reference = _checked_output(op, x, x)
    moved = _checked_output(op, torch.roll(x, shifts, dims), x)
    sizes_in, out_sizes = tuple(x.shape[2:]), tuple(reference.shape[2:])
    given = strides is not None
    if strides is None:
        strides = tuple(max(1, i // o) for i, o in zip(sizes_in, out_sizes))
    if any(i != s * o for i, s, o in zip(sizes_in, strides, out_sizes)):
        raise ValueError(
            f"mode='circular' needs input size == stride * output size in every dim; "
            f"op maps {sizes(sizes_in)} to {sizes(out_sizes)}"
            + (f" with stride {sizes(strides)}" if given else "")
            + "; pass stride=, or use mode='crop'"
        )
    expected = subpixel_roll(reference, [t / s for t, s in zip(shifts, strides)], dims)
    return moved, expected


def _crop_pair(
    op: Callable,
    x: torch.Tensor,
    shifts: tuple[int, ...],
    strides: tuple[int, ...] | None,
    margin: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The overlapping parts of ``op`` on the shifted crop and on the reference crop."""
    # Cropping t pixels off the start moves the content t pixels towards index 0.
    shifted = x[(..., *(slice(max(0, -t), None) for t in shifts))]
    base = x[(..., *(slice(max(0, t), None) for t in shifts))]
    moved = _checked_output(op, shifted, shifted)
    reference = _checked_output(op, base, shifted)
    moved_sizes, ref_sizes = tuple(moved.shape[2:]), tuple(reference.shape[2:])
    if strides is None:
        crop = tuple(shifted.shape[2:])
        strides = tuple(max(1, round(i / o)) for i, o in zip(crop, moved_sizes))
    if any(t % s for t, s in zip(shifts, strides)):
        raise ValueError(
            f"mode='crop' needs shift to be a multiple of the stride, got shift "
            f"{shifts} with stride {strides}; use mode='circular' for fractional "
            "output shifts"
        )
    window_moved, window_ref = [], []
    for axis, (t, s, m, r) in enumerate(zip(shifts, strides, moved_sizes, ref_sizes)):
        tau = t // s  # moved[j] should equal reference[j - tau]
        lo, hi = max(margin, tau + margin), min(m - margin, r + tau - margin)
        if hi <= lo:
            raise ValueError(
                f"nothing left to compare along spatial dim {axis}: outputs of {m} and "
                f"{r} pixels, {tau} apart, with margin {margin}"
            )
        window_moved.append(slice(lo, hi))
        window_ref.append(slice(lo - tau, hi - tau))
    return moved[(..., *window_moved)], reference[(..., *window_ref)]


def _relative_error(moved: torch.Tensor, expected: torch.Tensor) -> float:
    """``||moved - expected|| / ||expected||``; 0.0 when equal, inf when only expected is 0."""
    # the norms in the outputs' own precision (float32 at least), on their device
    dtype = torch.promote_types(expected.dtype, torch.float32)
    difference = torch.linalg.vector_norm(moved - expected, dtype=dtype).item()
    scale = torch.linalg.vector_norm(expected, dtype=dtype).item()
    if difference == 0.0:
        return 0.0
    return difference / scale if scale > 0 else float("inf")


# ------------------------------------------------------------------ shift consistency


def shift_consistency(
    model: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    max_shift: int | Sequence[int],
    seed: int = 0,
    trials: int = 1,
    mode: str = "circular",
    batch_size: int = 64,
) -> float:
    """Fraction of images whose predicted class is the same under two random shifts.

    Zhang (2019)'s consistency: for each image draw two shifts, classify both shifted
    copies (argmax of the model's output) and count agreements. Random but reproducible:
    a ``torch.Generator`` seeded with ``seed`` draws, for each spatial dim ``d`` in order,
    ``torch.randint(0, max_shift[d] + 1, (trials, N, 2), generator=g)``: the two offsets
    of each image in each trial, uniform in ``[0, max_shift]`` inclusive.

    - ``mode="circular"``: each copy is ``torch.roll``-ed by its offsets (same size as the
      input; content wraps around).
    - ``mode="crop"``: each copy is the crop of size ``size - max_shift`` starting at its
      offsets, so the model sees inputs ``max_shift`` pixels smaller than ``images``. This
      is the paper's ImageNet protocol (224-pixel crops of 256-pixel images, offsets drawn
      from 0 to 31), up to the last offset: ``max_shift=32`` here draws from 0 to 32.

    The model runs batch-wise under ``torch.no_grad`` in eval mode (a module's training
    flag is restored afterwards), on the device of its first parameter, or of ``images`` if
    it has none.

    Args:
        model: a classifier mapping ``(B, C, *spatial)`` to logits ``(B, classes)``.
        images: a batch ``(N, C, *spatial)``, real floating point, 1 to 3 spatial dims.
        max_shift: largest offset, an int (every spatial dim) or one per spatial dim.
        seed: seed of the shifts.
        trials: pairs of shifts per image (positive); the result averages over all.
        mode: ``"circular"`` or ``"crop"``.
        batch_size: images per forward pass (positive).

    Returns:
        Agreements divided by ``N * trials``, a python float in ``[0, 1]``.

    Shape:
        - images: ``(N, C, *spatial)``
        - model output: ``(B, classes)`` for a batch of ``B`` shifted images

    Explained in: Pooling, downsampling and aliasing.

    Tested against: a global-average-pooling classifier (exactly 1.0 under circular shifts)
    and a classifier that reads the parity of the shift (the fraction of equal parities in
    the documented draw).

    Example:
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
        >>> shift_consistency(model, torch.rand(5, 3, 16, 16), max_shift=8)
        1.0
    """
    limits = _consistency_args(model, images, max_shift, seed, trials, mode, batch_size)
    generator = torch.Generator().manual_seed(int(seed))
    count = images.shape[0]
    offsets = torch.stack(
        [torch.randint(0, m + 1, (trials, count, 2), generator=generator) for m in limits], -1
    )  # (trials, N, 2, n), drawn on the CPU so that a seed means the same on every device
    agree = _count_agreements(model, images, offsets, limits, mode, batch_size)
    return agree / (count * trials)


def _consistency_args(
    model: object, images: object, max_shift: object, seed: object, trials: object,
    mode: object, batch_size: object,
) -> tuple[int, ...]:
    """The checked per-dim shift limits of :func:`shift_consistency`."""
    if not callable(model):
        raise TypeError(
            f"model must be callable (a module or function), got {type(model).__name__}"
        )
    _batch_tensor("images", images)
    spatial = tuple(images.shape[2:])
    limits = ntuple("max_shift", max_shift, len(spatial), 0)
    check_choice("mode", mode, SHIFT_MODES)
    check_int("seed", seed)
    check_int("trials", trials, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    if mode == "crop" and any(m >= s for m, s in zip(limits, spatial)):
        raise ValueError(
            f"mode='crop' needs max_shift smaller than the image: max_shift {sizes(limits)}, "
            f"images {sizes(spatial)}"
        )
    return limits


def _count_agreements(
    model: Callable,
    images: torch.Tensor,
    offsets: torch.Tensor,
    limits: tuple[int, ...],
    mode: str,
    batch_size: int,
) -> int:
    """How many of the ``trials × N`` pairs of shifted copies get the same class."""
    device = images.device
    if isinstance(model, nn.Module):
        first = next(model.parameters(), None)
        device = first.device if first is not None else device
        was_training = model.training
        model.eval()
    offsets = offsets.to(device)  # one copy for the whole run, not one per batch
    agree = torch.zeros((), dtype=torch.int64, device=device)
    try:
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                chunk = images[start:start + batch_size].to(device)
                for trial in range(offsets.shape[0]):
                    predictions = []
                    for copy in range(2):
                        shifts = offsets[trial, start:start + batch_size, copy]
                        moved = _shift_each(chunk, shifts, limits, mode)
                        predictions.append(_classes(model(moved), chunk.shape[0]))
                    agree += (predictions[0] == predictions[1]).sum()
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)
    return int(agree)  # the one synchronisation, at the end


def _shift_each(
    x: torch.Tensor, shifts: torch.Tensor, limits: tuple[int, ...], mode: str
) -> torch.Tensor:
    """Shift (or crop) every item of the batch by its own offsets, one spatial dim at a time."""
    for axis in range(shifts.shape[1]):
        dim, size = 2 + axis, x.shape[2 + axis]
        offset = shifts[:, axis]
        if mode == "circular":
            # roll by t: new[i] = old[(i - t) mod size]
            index = (torch.arange(size, device=x.device)[None] - offset[:, None]) % size
        else:
            index = torch.arange(size - limits[axis], device=x.device)[None] + offset[:, None]
        view = [x.shape[0]] + [1] * (x.dim() - 1)
        view[dim] = index.shape[1]
        expand = list(x.shape)
        expand[dim] = index.shape[1]
        x = torch.gather(x, dim, index.reshape(view).expand(expand))
    return x


def _classes(logits: object, batch: int) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != batch:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"model output is {shape}; expected logits (batch, classes) = ({batch}, classes)"
        )
    return logits.argmax(dim=1)


# ---------------------------------------------------------------------------- checks


def _image_tensor(name: str, image: object) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(image).__name__}")
    if image.is_complex():
        raise TypeError(f"{name} has complex dtype {image.dtype}; pass a real image")
    if image.dim() not in (2, 3, 4):
        raise ValueError(
            f"{name} has {image.dim()} dims with shape {tuple(image.shape)}; expected (H, W), "
            "(C, H, W) or (N, C, H, W)"
        )
    if 0 in image.shape:
        raise ValueError(f"{name} is empty: shape {tuple(image.shape)}")
    return image if image.is_floating_point() else image.float()


def _from_numpy(name: str, array: np.ndarray, kinds: str) -> torch.Tensor:
    """A numpy argument as a tensor, if its dtype kind is one of ``kinds`` (numpy's codes:
    b bool, i/u integers, f floats, c complex)."""
    if array.dtype.kind not in kinds:
        expected = "floating" if kinds == "f" else "numeric"
        hint = f" (convert with {name}.astype(np.float32))" if array.dtype.kind in "biu" else ""
        raise TypeError(f"{name} has numpy dtype {array.dtype}; expected a {expected} dtype{hint}")
    return torch.from_numpy(np.ascontiguousarray(array))


def _batch_tensor(name: str, x: object) -> None:
    check_tensor(name, x)
    if x.dim() not in (3, 4, 5):
        raise ValueError(
            f"{name} has {x.dim()} dims with shape {tuple(x.shape)}; expected (N, C, *spatial) "
            "with 1 to 3 spatial dims"
        )
    if 0 in x.shape:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")


def _checked_output(op: Callable, inp: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    y = op(inp)
    if not isinstance(y, torch.Tensor) or y.dim() != x.dim():
        got = (
            f"{y.dim()} dims {tuple(y.shape)}" if isinstance(y, torch.Tensor)
            else type(y).__name__
        )
        raise ValueError(
            f"op must return a tensor with the {x.dim()} dims (N, C, *spatial) of x, got {got}; "
            "for a classifier use shift_consistency"
        )
    return y

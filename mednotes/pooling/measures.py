"""Seeing and measuring aliasing: spectra, shift equivariance of an op, shift consistency of a
classifier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from mednotes._checks import check_choice, check_tensor, is_int, ntuple, sizes

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

    Explained in: Pooling and aliasing.

    Tested against: pure sinusoids (peaks exactly at ``W // 2 ± f``) and constant images (DC
    only), and ``numpy.fft.fftshift(numpy.fft.fft2(...))``.

    Example:
        >>> x = torch.cos(2 * torch.pi * 2 * torch.arange(8.0) / 8).expand(8, 8)
        >>> s = spectrum(x)
        >>> (s[4] > 1).nonzero().flatten().tolist()  # the row of zero vertical frequency
        [2, 6]
    """
    if isinstance(image, np.ndarray):
        return spectrum(torch.from_numpy(np.ascontiguousarray(image))).numpy()
    x = _image_tensor("image", image)
    if x.dtype in (torch.float16, torch.bfloat16):  # CPU FFTs have no half precision
        return spectrum(x.float()).to(x.dtype)
    coefficients = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
    return torch.log1p(coefficients.abs())


def frequency_axis(size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Frequencies in cycles per pixel along one axis of a :func:`spectrum`, in its order.

    Index ``size // 2`` is 0; the ends approach ``±0.5`` (Nyquist). Use it for the axis
    labels or ``extent`` of a spectrum plot.

    Args:
        size: number of pixels along the axis (positive).
        dtype: floating dtype of the result.

    Shape:
        - output: ``(size,)``

    Explained in: Pooling and aliasing.

    Tested against: ``numpy.fft.fftshift(numpy.fft.fftfreq(size))``.

    Example:
        >>> frequency_axis(4)
        tensor([-0.5000, -0.2500,  0.0000,  0.2500])
    """
    if not is_int(size) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    return torch.fft.fftshift(torch.fft.fftfreq(int(size), dtype=dtype))


def radial_profile(spec: torch.Tensor | np.ndarray) -> tuple:
    """Mean of a centred spectrum over rings of equal frequency: energy against frequency.

    A pixel at frequency ``(fy, fx)`` cycles per pixel (see :func:`frequency_axis`) belongs
    to ring ``round(sqrt(fy**2 + fx**2) * M)``, ``M = min(H, W)``; rings ``0 .. M // 2`` are
    kept (the corners beyond the Nyquist circle are not). Every kept ring holds at least
    the pixel on the axis of the shorter side, so no mean is empty.

    Args:
        spec: a centred spectrum such as :func:`spectrum` returns, ``(..., H, W)``; tensor
            or numpy array.

    Returns:
        ``(frequencies, profile)``: frequencies ``(M // 2 + 1,)`` in cycles per pixel (ring
        ``i`` is at ``i / M``) and the profile ``(..., M // 2 + 1)``, one per image, of the
        same kind as ``spec``. ``plt.plot(*radial_profile(s))`` draws it.

    Shape:
        - spec: ``(..., H, W)``
        - output: ``(M // 2 + 1,)`` and ``(..., M // 2 + 1)``

    Explained in: Pooling and aliasing.

    Tested against: a hand count of the rings on small grids, and sinusoids whose ring is
    known.

    Example:
        >>> f, p = radial_profile(torch.ones(4, 4))
        >>> f, p
        (tensor([0.0000, 0.2500, 0.5000]), tensor([1., 1., 1.]))
    """
    if isinstance(spec, np.ndarray):
        freqs, profile = radial_profile(torch.from_numpy(np.ascontiguousarray(spec)))
        return freqs.numpy(), profile.numpy()
    s = check_tensor("spec", spec)
    if s.dim() < 2:
        raise ValueError(
            f"spec has {s.dim()} dims with shape {tuple(s.shape)}; expected (..., H, W)"
        )
    height, width = s.shape[-2:]
    m = min(height, width)
    fy = frequency_axis(height, torch.float64)[:, None]
    fx = frequency_axis(width, torch.float64)[None, :]
    ring = torch.round(torch.sqrt(fy**2 + fx**2) * m).to(torch.int64).flatten()
    rings = m // 2 + 1
    inside = ring < rings  # the corners past Nyquist have no complete ring
    ring, flat = ring[inside].to(s.device), s.flatten(-2)[..., inside.to(s.device)]
    totals = flat.new_zeros(*flat.shape[:-1], rings).index_add_(-1, ring, flat)
    counts = torch.bincount(ring, minlength=rings).to(flat)
    return torch.arange(rings, dtype=s.dtype, device=s.device) / m, totals / counts


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

    - ``"circular"``: the input is rolled with ``torch.roll`` (content leaving one side
      enters the other), which needs ``size == s * output size`` in every dim. The output
      is rolled by ``t / s``: with ``torch.roll`` when that is an integer, and otherwise by
      the Fourier shift theorem (band-limited interpolation, axis by axis; the Nyquist
      bin keeps its real part). That is the answer an ideally anti-aliased op gives, so
      e.g. subsampling a sinusoid below the new Nyquist limit scores ~0 for every integer
      shift, while one above it, which aliases, scores exactly 2 (sign flip) for an odd shift.
      Ops that pad with zeros are not circular: use circular padding, or ``"crop"``.
    - ``"crop"``: no wrap-around, nothing made up. Cropping ``t`` pixels off the start of
      ``x`` gives an image whose content sits ``t`` pixels lower than in ``x``; so ``x``
      itself is the shifted image, ``x[t:]`` the reference (for ``t < 0``: ``x[-t:]`` is
      shifted, ``x`` the reference), one dim at a time. The op runs on both (it must accept
      both sizes, as a fully convolutional op does) and the outputs are compared where they
      overlap, after dropping ``margin`` output pixels at each end of each output (where
      the padding of the op differs). The shift must be a multiple of the stride: a
      fractional output shift has no pixels to compare with.

    Args:
        op: a function or module mapping ``(N, C, *spatial)`` to ``(N, C', *spatial')``;
            it runs under ``torch.no_grad`` and in whatever mode (train/eval) it is in.
        x: input batch, a real floating-point tensor with 1 to 3 spatial dims.
        shift: pixels to move the content by, an int (every spatial dim) or one int per
            spatial dim, e.g. ``(dy, dx)``; positive moves content to higher indices.
        mode: ``"circular"`` or ``"crop"``.
        stride: total stride of ``op`` per spatial dim; by default inferred from the sizes
            (``input / output``, rounded in crop mode).
        margin: output pixels ignored at each border, crop mode only (non-negative).

    Returns:
        The relative error as a python float.

    Shape:
        - x: ``(N, C, *spatial)``
        - op(x): ``(N, C', *spatial')`` with as many dims as x

    Explained in: Pooling and aliasing.

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
    if not callable(op):
        raise TypeError(f"op must be callable (a function or module), got {type(op).__name__}")
    _batch_tensor("x", x)
    n = x.dim() - 2
    shifts = ntuple("shift", shift, n, None)
    check_choice("mode", mode, SHIFT_MODES)
    if not is_int(margin) or margin < 0:
        raise ValueError(f"margin must be a non-negative int, got {margin!r}")
    if margin and mode == "circular":
        raise ValueError(
            f"margin={margin} applies to mode='crop' only; a circular shift has no border"
        )
    strides = None if stride is None else ntuple("stride", stride, n, 1)
    dims = tuple(range(2, 2 + n))
    sizes_in = tuple(x.shape[2:])

    with torch.no_grad():
        if mode == "circular":
            reference = _checked_output(op, x, x)
            moved = _checked_output(op, torch.roll(x, shifts, dims), x)
            out_sizes = tuple(reference.shape[2:])
            if strides is None:
                strides = tuple(max(1, i // o) for i, o in zip(sizes_in, out_sizes))
            if any(i != s * o for i, s, o in zip(sizes_in, strides, out_sizes)):
                raise ValueError(
                    f"mode='circular' needs input size == stride * output size in every dim; "
                    f"op maps {sizes(sizes_in)} to {sizes(out_sizes)}"
                    + (f" with stride {sizes(strides)}" if stride is not None else "")
                    + "; pass stride=, or use mode='crop'"
                )
            expected = _fourier_roll(reference, [t / s for t, s in zip(shifts, strides)])
        else:
            for axis, (t, size) in enumerate(zip(shifts, sizes_in)):
                if abs(t) >= size:
                    raise ValueError(
                        f"shift {t} along spatial dim {axis} leaves nothing to compare: x is "
                        f"{size} pixels wide there (mode='crop' needs |shift| < size)"
                    )
            # Cropping t pixels off the start moves the content t pixels towards index 0.
            shifted = x[(..., *(slice(-t if t < 0 else 0, None) for t in shifts))]
            base = x[(..., *(slice(t if t > 0 else 0, None) for t in shifts))]
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
                lo = max(margin, tau + margin)
                hi = min(m - margin, r + tau - margin)
                if hi <= lo:
                    raise ValueError(
                        f"nothing left to compare along spatial dim {axis}: outputs of {m} and "
                        f"{r} pixels, {tau} apart, with margin {margin}"
                    )
                window_moved.append(slice(lo, hi))
                window_ref.append(slice(lo - tau, hi - tau))
            moved, expected = moved[(..., *window_moved)], reference[(..., *window_ref)]

        difference = torch.linalg.vector_norm((moved - expected).double()).item()
        scale = torch.linalg.vector_norm(expected.double()).item()
    if difference == 0.0:
        return 0.0
    return difference / scale if scale > 0 else float("inf")


def _fourier_roll(y: torch.Tensor, shifts: list[float]) -> torch.Tensor:
    """Roll the spatial dims of ``y`` by possibly fractional amounts."""
    for axis, t in enumerate(shifts):
        dim = 2 + axis
        whole = int(t) if float(t).is_integer() else None
        if whole is not None:
            y = torch.roll(y, whole, dim)  # exact; no FFT rounding for the integer case
            continue
        length = y.shape[dim]
        work = y.double() if y.dtype != torch.float64 else y
        k = torch.fft.rfftfreq(length, device=y.device, dtype=torch.float64) * length
        phase = torch.exp(-2j * torch.pi * k * t / length)  # shift theorem: delay = phase ramp
        phase = phase.reshape(-1, *([1] * (y.dim() - dim - 1)))
        y = torch.fft.irfft(torch.fft.rfft(work, dim=dim) * phase, n=length, dim=dim)
    return y


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

    Explained in: Pooling and aliasing.

    Tested against: a global-average-pooling classifier (exactly 1.0 under circular shifts)
    and a classifier that reads the parity of the shift (the fraction of equal parities in
    the documented draw).

    Example:
        >>> model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
        >>> shift_consistency(model, torch.rand(5, 3, 16, 16), max_shift=8)
        1.0
    """
    if not callable(model):
        raise TypeError(
            f"model must be callable (a module or function), got {type(model).__name__}"
        )
    _batch_tensor("images", images)
    n = images.dim() - 2
    spatial = tuple(images.shape[2:])
    limits = ntuple("max_shift", max_shift, n, 0)
    check_choice("mode", mode, SHIFT_MODES)
    for name, value in (("seed", seed), ("trials", trials), ("batch_size", batch_size)):
        if not is_int(value):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if trials < 1 or batch_size < 1:
        bad = "trials" if trials < 1 else "batch_size"
        raise ValueError(f"{bad} must be positive, got {trials if bad == 'trials' else batch_size}")
    if mode == "crop" and any(m >= s for m, s in zip(limits, spatial)):
        raise ValueError(
            f"mode='crop' needs max_shift smaller than the image: max_shift {sizes(limits)}, "
            f"images {sizes(spatial)}"
        )

    generator = torch.Generator().manual_seed(int(seed))
    count = images.shape[0]
    offsets = torch.stack(
        [torch.randint(0, m + 1, (trials, count, 2), generator=generator) for m in limits], -1
    )  # (trials, N, 2, n)

    device = images.device
    if isinstance(model, nn.Module):
        first = next(model.parameters(), None)
        device = first.device if first is not None else device
        was_training = model.training
        model.eval()
    agree = 0
    try:
        with torch.no_grad():
            for start in range(0, count, batch_size):
                chunk = images[start:start + batch_size].to(device)
                for trial in range(trials):
                    predictions = []
                    for copy in range(2):
                        shifts = offsets[trial, start:start + batch_size, copy].to(device)
                        moved = _shift_each(chunk, shifts, limits, mode)
                        predictions.append(_classes(model(moved), chunk.shape[0]))
                    agree += int((predictions[0] == predictions[1]).sum())
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)
    return agree / (count * trials)


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

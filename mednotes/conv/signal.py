"""Signal view: ``correlate`` and ``convolve`` of one image with one kernel, like scipy.signal.

The two differ by a flip of the kernel, and nothing else:

    correlate(f, g)[i] = sum_u g[u] f[i + u]        (what CNN layers compute)
    convolve(f, g)[i]  = sum_u g[u] f[i - u]        (what signal processing calls convolution)

so ``convolve(f, g) == correlate(f, flip(g))`` for every mode; :func:`convolve` below is written
as exactly that one line. Both run on torch (through :func:`mednotes.conv.convnd`), so they are
differentiable and run on the device the image lives on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mednotes._amp import autocast_off
from mednotes._checks import check_choice
from mednotes.conv.network import METHODS, convnd

MODES = ("full", "same", "valid")

Array = np.ndarray | torch.Tensor


def correlate(image: Array, kernel: Array, mode: str = "valid", method: str = "auto") -> Array:
    """Cross-correlate a 1-D, 2-D or 3-D image with a kernel, as ``scipy.signal.correlate``.

    ``out[i] = sum_u kernel[u] * image[i + u - offset]``, the kernel slid over the image without
    flipping, which is what a CNN layer computes.

    Args:
        image: numpy array (or nested list of numbers) or torch tensor with 1 to 3 dims.
            float16, float32 and float64 are kept (mixed dtypes promote as numpy/torch do);
            integer and bool input is computed and returned as float64 (scipy would keep the
            integer dtype), as is numpy's long double; integer torch tensors on a device
            without float64 (Apple MPS) are computed in float32. Complex, object and string
            input, None and scalars are rejected with a TypeError or ValueError.
        kernel: same kind (numpy or torch) and same number of dims as ``image``; mixing a
            numpy array with a torch tensor raises ``TypeError`` rather than guessing a device.
        mode: ``"full"`` (every overlap, size ``n + k - 1``), ``"same"`` (size of ``image``,
            centred as scipy does: the window starts at ``(k - 1) // 2`` of the full output) or
            ``"valid"`` (full overlap only, size ``|n - k| + 1``; one of the two must be at least
            as large as the other in every dim, else ``ValueError``). The default is
            ``"valid"``, like a CNN layer without padding; scipy's default is ``"full"``.
        method: how to compute, see :func:`mednotes.conv.conv2d` (``"auto"`` by default).

    Returns:
        The same kind as ``image``: numpy in, numpy out (computed in numpy's dtype even under
        ``torch.autocast``); a torch tensor on ``image``'s device (keeping the autograd graph)
        for torch in, which follows autocast as :func:`mednotes.conv.conv2d` does.

    Shape:
        - image: ``(n1,)``, ``(n1, n2)`` or ``(n1, n2, n3)``; kernel: ``(k1, ...)`` likewise
        - output: per dim ``n + k - 1`` (full), ``n`` (same) or ``|n - k| + 1`` (valid)

    Explained in: Convolution and cross-correlation.

    Tested against: ``scipy.signal.correlate`` (all modes, 1-D to 3-D, odd and even kernels,
    kernels larger than the image, float32 and float64, numpy and torch).

    Example:
        >>> correlate(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0]), mode="full")
        array([0., 2., 5., 8., 3.])
        >>> correlate(torch.tensor([0.0, 1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0]))
        tensor([2., 5., 8.])
    """
    image_t, kernel_t, back = _as_tensors(image, kernel)
    return back(_correlate(image_t, kernel_t, mode, method, isinstance(image, torch.Tensor)))


def convolve(image: Array, kernel: Array, mode: str = "valid", method: str = "auto") -> Array:
    """Convolve a 1-D, 2-D or 3-D image with a kernel, as ``scipy.signal.convolve``.

    ``out[i] = sum_u kernel[u] * image[i - u + offset]``: the kernel is flipped along every
    axis before it slides, which makes convolution commutative and associative.

    Args:
        image, kernel, mode, method: as in :func:`correlate`.

    Returns:
        Same kind, device and dtype rules as :func:`correlate`.

    Shape:
        As :func:`correlate`.

    Explained in: Convolution and cross-correlation.

    Tested against: ``scipy.signal.convolve`` (all modes, 1-D to 3-D, odd and even kernels,
    kernels larger than the image, float32 and float64, numpy and torch).

    Example:
        >>> convolve(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0]), mode="full")
        array([0., 1., 4., 7., 6.])
        >>> flipped = np.array([2.0, 1.0])
        >>> correlate(np.array([0.0, 1.0, 2.0, 3.0]), flipped, mode="full")
        array([0., 1., 4., 7., 6.])
    """
    image_t, kernel_t, back = _as_tensors(image, kernel)
    # The whole difference between the two operations: flip the kernel along every axis.
    flipped = kernel_t.flip(tuple(range(kernel_t.dim())))
    return back(_correlate(image_t, flipped, mode, method, isinstance(image, torch.Tensor)))


def _correlate(
    image: torch.Tensor, kernel: torch.Tensor, mode: str, method: str, follow_autocast: bool
) -> torch.Tensor:
    """Correlation of checked tensors: zero-pad the image, then one "valid" network-view pass.

    Tensors follow autocast as the network view does; numpy arrays (``follow_autocast``
    False) are computed in their own dtype whatever autocast says.
    """
    check_choice("mode", mode, MODES)
    check_choice("method", method, METHODS)
    n_img, n_ker = tuple(image.shape), tuple(kernel.shape)
    kernel_inside = all(k <= n for n, k in zip(n_img, n_ker))
    image_inside = all(n <= k for n, k in zip(n_img, n_ker))
    if mode == "valid" and not (kernel_inside or image_inside):
        raise ValueError(
            f"mode='valid' needs one of image and kernel to be at least as large as the other "
            f"in every dim (as scipy does); image has shape {n_img}, kernel {n_ker}"
        )
    pads = []
    for n, k in zip(n_img, n_ker):
        # Which slice [start, start + length) of the full correlation (length n + k - 1) to keep.
        if mode == "full":
            start, length = 0, n + k - 1
        elif mode == "same":
            start, length = (k - 1) // 2, n
        else:
            start, length = min(n, k) - 1, abs(n - k) + 1
        # Full output index i reads image[i - (k - 1) + u], so keep only the zeros it needs.
        before = k - 1 - start
        after = length + k - 1 - n - before
        pads.append((before, after))
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad wants the last dim first
    padded = F.pad(image[None, None], flat) if any(flat) else image[None, None]
    with contextlib.nullcontext() if follow_autocast else autocast_off("cpu"):
        return convnd(padded, kernel[None, None], method=method)[0, 0]


def _as_tensors(
    image: Array, kernel: Array
) -> tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor], Array]]:
    """Both inputs as float tensors of one dtype, and a function that restores image's kind."""
    image_is_torch = isinstance(image, torch.Tensor)
    if image_is_torch != isinstance(kernel, torch.Tensor):
        image_kind = "a torch.Tensor" if image_is_torch else "a numpy array"
        raise TypeError(
            f"kernel is a {type(kernel).__name__} but image is {image_kind}; pass both as "
            "numpy arrays or both as torch tensors"
        )
    if image_is_torch:
        pair = (image, kernel)
        dtypes = [a.dtype for a in pair]
        if any(a.is_complex() for a in pair):
            raise TypeError(f"image and kernel must be real, got dtypes {dtypes[0]}, {dtypes[1]}")
        dtype = torch.promote_types(*dtypes)
        if not dtype.is_floating_point:
            # Integers and bools: exact like scipy (up to 2**53), but as floats; float32 where
            # the device has no float64 (Apple MPS).
            dtype = torch.float32 if image.device.type == "mps" else torch.float64
        if kernel.device != image.device:
            raise ValueError(f"kernel is on {kernel.device}, image is on {image.device}")
        image_t, kernel_t = image.to(dtype), kernel.to(dtype)
        back: Callable[[torch.Tensor], Array] = lambda out: out  # noqa: E731
    else:
        image_np, kernel_np = _numeric_array("image", image), _numeric_array("kernel", kernel)
        dtype = np.result_type(image_np, kernel_np)
        if dtype not in (np.float16, np.float32, np.float64):
            dtype = np.dtype(np.float64)  # ints and bools (exact up to 2**53), long double
        image_t = torch.from_numpy(np.ascontiguousarray(image_np, dtype=dtype))
        kernel_t = torch.from_numpy(np.ascontiguousarray(kernel_np, dtype=dtype))
        back = _to_numpy
    if image_t.dim() not in (1, 2, 3):
        raise ValueError(f"image must have 1, 2 or 3 dims, got {image_t.dim()}")
    if kernel_t.dim() != image_t.dim():
        raise ValueError(f"kernel has {kernel_t.dim()} dims, image has {image_t.dim()}")
    for name, value in (("image", image_t), ("kernel", kernel_t)):
        if value.numel() == 0:
            raise ValueError(f"{name} is empty: shape {tuple(value.shape)}")
    return image_t, kernel_t, back


def _numeric_array(name: str, value: object) -> np.ndarray:
    """``value`` as a real numeric numpy array with 1 to 3 dims, or a message naming ``name``."""
    if value is None or isinstance(value, (str, bytes)) or np.isscalar(value):
        raise TypeError(
            f"{name} must be a 1-D, 2-D or 3-D array or torch tensor, got {type(value).__name__}"
        )
    try:
        array = np.asarray(value)
    except ValueError as error:  # a ragged nested list
        raise ValueError(f"{name} is not a rectangular array of numbers: {error}") from None
    if array.dtype.kind not in "biuf" or array.dtype == object:
        kind = "complex numbers" if array.dtype.kind == "c" else f"dtype {array.dtype}"
        raise TypeError(f"{name} must hold real numbers, got {kind}")
    if array.ndim not in (1, 2, 3):
        raise ValueError(f"{name} must have 1, 2 or 3 dims, got {array.ndim}")
    return array


def _to_numpy(out: torch.Tensor) -> np.ndarray:
    return out.detach().numpy()

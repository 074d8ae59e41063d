"""Sliding-window inference: a network trained on patches, applied to a whole volume.

A 3D network is trained on patches (a 64³ volume at full width does not fit a GPU's memory
during training), so at test time the volume is cut into overlapping windows of the patch
size, each window goes through the network, and the window outputs are stitched back. Where
windows overlap, their outputs are blended with weights: equal weights (``"constant"``), or a
Gaussian ``"importance map"`` that trusts the centre of a window more than its edges, where
the network saw zero padding instead of context. The blended output is

    out[x] = Σ_w m_w(x) · f(window_w)[x] / Σ_w m_w(x),

with ``m_w`` the importance map placed at window ``w``. Windows start every
``int(roi · (1 − overlap))`` voxels along each axis, and the last window of each axis is moved
back to end at the border, so no window hangs over the edge; an input smaller than the window
is zero-padded (centred) first and the output is cropped back.

- :func:`sliding_window_inference`: the whole procedure, differentiable;
- :func:`window_starts`, :func:`count_windows`: where the windows go, and how many there are;
- :func:`importance_map`, :func:`blend_weights`: one window's weights, and their sum over the
  image (the denominator above).

The semantics are MONAI's ``sliding_window_inference`` (same window positions, same
importance maps, same padding), so results agree with it to rounding.

Explained in: Neuroradiology: lesion segmentation on brain MRI.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from mednotes._checks import (
    check_bool,
    check_choice,
    check_number,
    check_positive_int,
    check_tensor,
    describe,
    is_int,
    ntuple,
)

__all__ = [
    "MODES",
    "blend_weights",
    "count_windows",
    "importance_map",
    "sliding_window_inference",
    "window_starts",
]

#: The blending modes: equal weights, or a Gaussian that fades towards the window's edges.
MODES = ("constant", "gaussian")
_MIN_WEIGHT = 1e-3  # MONAI's floor on the importance map: no voxel gets a zero weight


def _per_dim(name: str, value: object, dims: int, low: float, high: float | None, *,
             open_low: bool, open_high: bool) -> tuple[float, ...]:
    """A number, or one number per spatial dim, each checked to lie in the interval."""
    if isinstance(value, (Sequence, torch.Size)) and not isinstance(value, (str, bytes)):
        items = tuple(value)
        if len(items) != dims:
            raise ValueError(f"{name} must be one number or {dims} (one per spatial dim), got "
                             f"{value!r}")
    else:
        items = (value,) * dims
    return tuple(check_number(name, v, low, high, open_low=open_low, open_high=open_high)
                 for v in items)


def _check_sizes(image_size: object, roi_size: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
    image_size = ntuple("image_size", image_size, None, 1)
    roi_size = ntuple("roi_size", roi_size, len(image_size), 1)
    return image_size, roi_size


def _axis_starts(size: int, roi: int, overlap: float) -> list[int]:
    """Window starts along one axis of ``size >= roi`` voxels (MONAI's dense_patch_slices)."""
    interval = roi if roi == size else max(int(roi * (1 - overlap)), 1)
    starts, start = [], 0
    while True:
        starts.append(min(start, size - roi))  # the last window ends at the border
        if start + roi >= size:
            return starts
        start += interval


def window_starts(image_size, roi_size, overlap=0.25) -> tuple[list[int], ...]:
    """Where the windows start along each spatial axis.

    The step is ``int(roi * (1 - overlap))`` voxels (at least 1; a window as large as the
    axis gives one window), and the last window is moved back so that it ends at the border.
    An axis shorter than the window is padded to the window's size first: one window, at 0
    of the padded axis. The windows are every combination of one start per axis.

    Args:
        image_size: the spatial size, e.g. ``(64, 64, 64)``.
        roi_size: the window's size, one int or one per axis.
        overlap: the fraction of a window shared with its neighbour, in [0, 1); one number or
            one per axis.

    Returns:
        One list of starts per axis.

    Explained in: Neuroradiology: lesion segmentation on brain MRI.

    Example:
        >>> window_starts((10, 64), roi_size=(4, 32), overlap=0.5)
        ([0, 2, 4, 6], [0, 16, 32])
        >>> window_starts(10, 4, overlap=0.0)        # 0, 4, then 8 moved back to 6
        ([0, 4, 6],)
    """
    image_size, roi_size = _check_sizes(image_size, roi_size)
    overlap = _per_dim("overlap", overlap, len(image_size), 0.0, 1.0, open_low=False,
                       open_high=True)
    return tuple(_axis_starts(max(s, r), r, o) for s, r, o in zip(image_size, roi_size, overlap))


def count_windows(image_size, roi_size, overlap=0.25) -> int:
    """How many windows :func:`sliding_window_inference` runs per image.

    Args:
        image_size, roi_size, overlap: as in :func:`window_starts`.

    Example:
        >>> count_windows((64, 64, 64), 32, overlap=0.25)   # starts 0, 24, 32 on each axis
        27
        >>> count_windows((64, 64, 64), 32, overlap=0.0)
        8
    """
    return math.prod(len(s) for s in window_starts(image_size, roi_size, overlap))


def importance_map(roi_size, mode: str = "gaussian", sigma_scale=0.125, *,
                   dtype: torch.dtype = torch.float32,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """The weights of one window's output when windows are blended.

    ``"constant"`` gives every voxel the weight 1. ``"gaussian"`` gives voxel ``x`` of a
    window the product over axes of ``exp(-d² / (2σ²))``, where ``d`` is its distance from
    the window's centre and ``σ = sigma_scale · roi``; the weights are then floored at their
    own minimum or 1e-3, whichever is larger, so that no voxel is weighted zero. This is
    MONAI's ``compute_importance_map``.

    Args:
        roi_size: the window's size, a tuple of ints (an int means one axis).
        mode: ``"constant"`` or ``"gaussian"``.
        sigma_scale: σ as a fraction of the window's size, > 0; one number or one per axis.
        dtype, device: of the result.

    Returns:
        A tensor of shape ``roi_size``, 1 at the centre for ``"gaussian"``.

    Explained in: Neuroradiology: lesion segmentation on brain MRI.

    Example:
        >>> importance_map((5,), "gaussian", sigma_scale=0.25)   # σ = 1.25 voxels
        tensor([0.2780, 0.7261, 1.0000, 0.7261, 0.2780])
        >>> importance_map((2, 3), "constant")
        tensor([[1., 1., 1.],
                [1., 1., 1.]])
    """
    roi_size = ntuple("roi_size", roi_size, None, 1)
    check_choice("mode", mode, MODES)
    sigma_scale = _per_dim("sigma_scale", sigma_scale, len(roi_size), 0.0, None,
                           open_low=True, open_high=False)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {describe(dtype)}")
    if mode == "constant":
        weights = torch.ones(roi_size, dtype=torch.float32, device=device)
    else:
        weights = None
        for axis, (size, scale) in enumerate(zip(roi_size, sigma_scale)):
            sigma = size * scale
            d = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2.0
            profile = torch.exp(d**2 / (-2 * sigma**2))
            if weights is None:
                weights = profile
            else:
                weights = weights.unsqueeze(-1) * profile[(None,) * axis]
        weights = weights.clamp(min=max(float(weights.min()), _MIN_WEIGHT))
    return weights.to(dtype)


def blend_weights(image_size, roi_size, overlap=0.25, mode: str = "gaussian",
                  sigma_scale=0.125) -> torch.Tensor:
    """The sum of the windows' importance maps over the image: the blending's denominator.

    Where this is large, many windows (or window centres) contribute to a voxel; with
    ``overlap=0`` and ``"constant"`` it is 1 everywhere except where the last window was
    moved back to fit.

    Args:
        image_size, roi_size, overlap: as in :func:`window_starts`.
        mode, sigma_scale: as in :func:`importance_map`.

    Returns:
        float32 tensor of shape ``image_size``.

    Example:
        >>> blend_weights((6,), (4,), overlap=0.5, mode="constant")
        tensor([1., 1., 2., 2., 1., 1.])
    """
    image_size, roi_size = _check_sizes(image_size, roi_size)
    starts = window_starts(image_size, roi_size, overlap)
    padded = tuple(max(s, r) for s, r in zip(image_size, roi_size))
    weights = importance_map(roi_size, mode, sigma_scale)
    total = torch.zeros(padded)
    for corner in _corners(starts):
        total[_window(corner, roi_size)] += weights
    crop = tuple(slice((p - s) // 2, (p - s) // 2 + s) for p, s in zip(padded, image_size))
    return total[crop]


def _corners(starts: tuple[list[int], ...]) -> list[tuple[int, ...]]:
    """Every combination of one start per axis, the first axis slowest (MONAI's order)."""
    corners = [()]
    for axis_starts in starts:
        corners = [c + (s,) for c in corners for s in axis_starts]
    return corners


def _window(corner: tuple[int, ...], roi_size: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(c, c + r) for c, r in zip(corner, roi_size))


def sliding_window_inference(inputs: torch.Tensor, roi_size, predictor: Callable, *,
                             overlap=0.25, mode: str = "constant", sigma_scale=0.125,
                             sw_batch_size: int = 1, progress: bool = False) -> torch.Tensor:
    """Run ``predictor`` on overlapping windows of ``inputs`` and blend the outputs.

    Windows of ``roi_size`` start every ``int(roi · (1 − overlap))`` voxels along each axis
    (:func:`window_starts`); ``sw_batch_size`` windows at a time, taken in order over the
    whole batch, go through ``predictor``; each output is multiplied by the window's
    :func:`importance_map` and added into the result, which is divided at the end by the sum
    of the maps (:func:`blend_weights`). A spatial size smaller than the window is zero-padded
    (centred, the extra voxel after) and the result cropped back.

    Everything is differentiable: gradients reach both ``inputs`` and the predictor's
    parameters (the weights are constants). The result has the input's dtype and device;
    under autocast each window's output may be in lower precision, and it is blended in the
    input's precision.

    Args:
        inputs: the batch to segment, a floating-point tensor.
        roi_size: the window's spatial size, an int (same on every axis) or one per axis; it
            should be a size the predictor accepts (for a U-Net of depth d, a multiple of
            ``2**d``).
        predictor: ``predictor(windows)`` returns ``(n, C_out, *roi_size)`` for ``n`` windows
            ``(n, C, *roi_size)``, e.g. a network in eval mode.
        overlap: fraction of a window shared with its neighbour along each axis, in [0, 1);
            one number or one per axis.
        mode: ``"constant"`` (equal weights) or ``"gaussian"`` (the centre of a window
            counts more than its edges).
        sigma_scale: for ``"gaussian"``, σ as a fraction of the window's size, > 0.
        sw_batch_size: windows per call of ``predictor``.
        progress: show a tqdm progress bar over the calls.

    Returns:
        ``(N, C_out, *spatial)``, the blended output.

    Shape:
        - inputs: ``(N, C, *spatial)`` with 1, 2 or 3 spatial dims
        - output: ``(N, C_out, *spatial)``

    MONAI's ``sliding_window_inference(inputs, roi_size, sw_batch_size, predictor, overlap,
    mode, sigma_scale)`` with the same semantics, for a predictor that keeps the window's
    size and returns one tensor; MONAI's other options (padding modes, devices, buffering,
    resolution-changing predictors) are left out.

    Explained in: Neuroradiology: lesion segmentation on brain MRI.

    Tested against: MONAI's ``sliding_window_inference``, 2D and 3D, both modes, several
    overlaps and sizes that the windows do not divide, forward and backward (gradients for the
    input and the network's parameters), under CPU bfloat16 autocast, and on CUDA.

    Example:
        >>> net = torch.nn.Conv3d(1, 2, 3, padding=1)
        >>> volume = torch.randn(1, 1, 40, 40, 40)
        >>> with torch.no_grad():
        ...     out = sliding_window_inference(volume, 16, net, overlap=0.5, mode="gaussian")
        >>> out.shape, count_windows(volume.shape[2:], 16, overlap=0.5)
        (torch.Size([1, 2, 40, 40, 40]), 64)
        >>> with torch.no_grad():   # a window as large as the volume: the network itself
        ...     whole = sliding_window_inference(volume, 40, net)
        >>> torch.allclose(whole, net(volume), atol=1e-6)
        True
    """
    check_tensor("inputs", inputs)
    spatial = inputs.dim() - 2
    if spatial not in (1, 2, 3):
        raise ValueError(f"inputs must be a batch (N, C, *spatial) with 1, 2 or 3 spatial dims, "
                         f"got {inputs.dim()}D input of shape {tuple(inputs.shape)}")
    if 0 in inputs.shape:
        raise ValueError(f"inputs is empty: shape {tuple(inputs.shape)}")
    if is_int(roi_size):
        roi_size = (int(roi_size),) * spatial
    elif isinstance(roi_size, (Sequence, torch.Size)) and not isinstance(roi_size, (str, bytes)) \
            and len(roi_size) != spatial:
        raise ValueError(f"roi_size must have {spatial} entries, one per spatial dim of inputs "
                         f"{tuple(inputs.shape)}, got {roi_size!r}")
    roi_size = ntuple("roi_size", roi_size, spatial, 1)
    if not callable(predictor):
        raise TypeError(f"predictor must be callable (e.g. a network), got {describe(predictor)}")
    overlap = _per_dim("overlap", overlap, spatial, 0.0, 1.0, open_low=False, open_high=True)
    check_choice("mode", mode, MODES)
    sigma_scale = _per_dim("sigma_scale", sigma_scale, spatial, 0.0, None, open_low=True,
                           open_high=False)
    sw_batch_size = check_positive_int("sw_batch_size", sw_batch_size)
    progress = check_bool("progress", progress)

    # An axis shorter than the window is zero-padded, centred (the extra voxel after).
    image_size = tuple(inputs.shape[2:])
    pad = []
    for size, roi in zip(reversed(image_size), reversed(roi_size)):  # F.pad: last axis first
        extra = max(roi - size, 0)
        pad += [extra // 2, extra - extra // 2]
    if any(pad):
        inputs = F.pad(inputs, pad)
    padded = tuple(inputs.shape[2:])

    corners = _corners(window_starts(padded, roi_size, overlap))
    windows = [(n, _window(c, roi_size)) for n in range(inputs.shape[0]) for c in corners]
    weights = importance_map(roi_size, mode, sigma_scale, dtype=inputs.dtype,
                             device=inputs.device)
    output = None
    calls = range(0, len(windows), sw_batch_size)
    if progress:
        from tqdm.auto import tqdm

        calls = tqdm(calls, desc="sliding window", unit="call")
    for first in calls:
        group = windows[first:first + sw_batch_size]
        batch = torch.cat([inputs[(slice(n, n + 1), slice(None), *where)] for n, where in group])
        result = predictor(batch)
        _check_prediction(result, len(group), roi_size)
        if output is None:
            output = inputs.new_zeros((inputs.shape[0], result.shape[1], *padded))
        for k, (n, where) in enumerate(group):
            output[(n, slice(None), *where)] += result[k] * weights
    total = torch.zeros(padded, dtype=inputs.dtype, device=inputs.device)
    for corner in corners:
        total[_window(corner, roi_size)] += weights
    output = output / total
    if any(pad):
        crop = tuple(slice(pad[2 * i], pad[2 * i] + size)
                     for i, size in enumerate(reversed(image_size)))
        output = output[(slice(None), slice(None), *reversed(crop))]
    return output


def _check_prediction(result: object, windows: int, roi_size: tuple[int, ...]) -> None:
    if not isinstance(result, torch.Tensor):
        raise TypeError(f"predictor must return a torch.Tensor, got {describe(result)}")
    expected = (windows, "C_out", *roi_size)
    if result.dim() != len(roi_size) + 2 or result.shape[0] != windows \
            or tuple(result.shape[2:]) != roi_size:
        raise ValueError(f"predictor must return (n, C_out, *roi_size) = {expected} for {windows} "
                         f"window(s), got shape {tuple(result.shape)}; a predictor that changes "
                         "the size (e.g. a U-Net with padding='valid') is not supported")

"""Intensity windows: how radiologists map Hounsfield units to grey levels."""

from __future__ import annotations

import numbers

import numpy as np
import torch

from mednotes._checks import check_number, describe

#: Common CT display windows as (centre, width) in Hounsfield units.
WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}


def _window_bounds(center, width) -> tuple[float, float]:
    """``(low, width)`` of the window, from a preset name or a finite centre and width."""
    presets = ", ".join(repr(name) for name in WINDOWS)
    if isinstance(center, str):
        if center not in WINDOWS:
            raise ValueError(f"unknown window center={center!r}; presets: {presets} (or give "
                             "center and width as numbers)")
        if width is not None:
            raise ValueError(
                f"width must be omitted when center names a preset ({center!r} has width "
                f"{WINDOWS[center][1]:g}), got {describe(width)}")
        center, width = WINDOWS[center]
    elif isinstance(center, (bool, np.bool_)) or not isinstance(center, numbers.Real):
        raise TypeError(f"center must be a number (HU) or a preset name ({presets}), "
                        f"got {describe(center)}")
    center = check_number("center", center)
    if width is None:
        raise ValueError("width is required when center is a number, e.g. "
                         "window(hu, 40, 400); or name a preset: window(hu, 'soft tissue')")
    width = check_number("width", width, 0.0, open_low=True)
    return center - width / 2.0, width


def window(image, center: float | str = "soft tissue", width: float | None = None):
    """Map intensities inside a window to [0, 1]; below it 0, above it 1.

    Args:
        image: a numpy array or torch tensor of real numbers, e.g. a CT slice in HU.
        center: the window centre (level), a finite number, or the name of a preset in
            ``WINDOWS``.
        width: the window width, a finite number > 0; omitted when ``center`` is a name.

    Returns:
        The same kind of array as given, on the same device, values in [0, 1]: a floating
        image keeps its dtype; an integer one becomes float32 (torch) or float64 (numpy).
        ``-inf``/``+inf`` pixels map to 0/1; a NaN pixel stays NaN.

    Raises:
        TypeError: ``image`` is not a real numeric array or tensor (complex, bool, strings),
            or ``center``/``width`` is not a number.
        ValueError: unknown preset, NaN or infinite ``center``/``width``, ``width <= 0``, a
            missing ``width`` for a numeric centre, or a ``width`` given with a preset.

    Explained in: Setup and first look.

    Example:
        >>> window(torch.tensor([-1000.0, 40.0, 240.0, 3000.0]), "soft tissue")
        tensor([0.0000, 0.5000, 1.0000, 1.0000])
        >>> window(np.array([0.0, 50.0]), center=50, width=100)
        array([0. , 0.5])
        >>> window(torch.zeros(2), 40, float("nan"))
        Traceback (most recent call last):
        ...
        ValueError: width must be finite, got nan
    """
    # The image's type is checked first: its mistakes are the likelier ones to explain.
    if isinstance(image, torch.Tensor):
        if image.is_complex() or image.dtype == torch.bool:
            raise TypeError(f"image must hold real numbers, got a tensor of dtype {image.dtype}")
        low, width = _window_bounds(center, width)
        # Python floats, not tensors: nothing is built on the CPU and moved, and no float64
        # is asked of a device that may not have it (Apple MPS).
        image = image if image.is_floating_point() else image.float()
        return (image - low).div(width).clamp(0, 1)
    if isinstance(image, np.ndarray):
        if image.dtype == np.bool_ or not (np.issubdtype(image.dtype, np.integer)
                                          or np.issubdtype(image.dtype, np.floating)):
            raise TypeError(f"image must hold real numbers, got an array of dtype {image.dtype}")
        low, width = _window_bounds(center, width)
        dtype = image.dtype if np.issubdtype(image.dtype, np.floating) else np.dtype(np.float64)
        scaled = (image.astype(dtype, copy=False) - dtype.type(low)) / dtype.type(width)
        return np.clip(scaled, 0, 1)
    raise TypeError(f"image must be a numpy array or torch tensor, got {type(image).__name__}")

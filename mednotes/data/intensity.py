"""Intensity windows: how radiologists map Hounsfield units to grey levels."""

from __future__ import annotations

import numpy as np
import torch

#: Common CT display windows as (centre, width) in Hounsfield units.
WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}


def window(image, center: float | str = "soft tissue", width: float | None = None):
    """Map intensities inside a window to [0, 1]; below it 0, above it 1.

    Args:
        image: a numpy array or torch tensor, e.g. a CT slice in HU.
        center: the window centre (level), or the name of a preset in ``WINDOWS``.
        width: the window width; taken from the preset when ``center`` is a name.

    Returns:
        The same kind of array as given, floating point, values in [0, 1].

    Explained in: Setup and first look.

    Example:
        >>> window(torch.tensor([-1000.0, 40.0, 240.0, 3000.0]), "soft tissue")
        tensor([0.0000, 0.5000, 1.0000, 1.0000])
        >>> window(np.array([0.0, 50.0]), center=50, width=100)
        array([0. , 0.5])
    """
    if isinstance(center, str):
        if center not in WINDOWS:
            raise ValueError(f"unknown window {center!r}; presets: {', '.join(WINDOWS)}")
        if width is not None:
            raise ValueError("width must be omitted when center names a preset")
        center, width = WINDOWS[center]
    if width is None:
        raise ValueError("width is required when center is a number")
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    low = center - width / 2.0
    if isinstance(image, torch.Tensor):
        if image.is_complex():
            raise TypeError("image must be real, got a complex tensor")
        return ((image.float() if not image.is_floating_point() else image) - low).div(width).clamp(0, 1)
    if isinstance(image, np.ndarray):
        if np.iscomplexobj(image):
            raise TypeError("image must be real, got a complex array")
        return np.clip((image.astype(np.float64, copy=False) - low) / width, 0.0, 1.0)
    raise TypeError(f"image must be a numpy array or torch tensor, got {type(image).__name__}")

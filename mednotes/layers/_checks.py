"""Argument checks shared by the layers: sizes, numbers, and the input a layer was built for.

The messages follow the house rule: name the argument, say what was expected and what came,
and where it helps, why. A reader who feeds a 3-D tensor to a 2-D layer in a notebook should
learn what to change without opening this file.
"""

from __future__ import annotations

import math
import numbers

import torch

from mednotes.conv._checks import check_choice, check_tensor, is_int, ntuple

__all__ = [
    "LAYOUTS",
    "check_bool",
    "check_choice",
    "check_input",
    "check_number",
    "check_positive_int",
    "check_tensor",
    "is_int",
    "ntuple",
]

#: The layout that a layer with this many spatial dims expects, for error messages.
LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int if it is a positive integer (not a bool), else a clear error."""
    if not is_int(value):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is True or False; 0, 1 or "yes" are refused rather than guessed at."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def check_number(
    name: str, value: object, low: float | None = None, high: float | None = None
) -> float:
    """``value`` as a float if it is a finite real number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {bounds}, got {value}")
    return value


def check_input(
    layer: str,
    x: object,
    spatial: int,
    channels: int | None,
    channel_arg: str,
    unbatched: bool = False,
) -> torch.Tensor:
    """Check the input of a layer with ``spatial`` spatial dims built for ``channels`` channels.

    Args:
        layer: the layer's name for messages, e.g. ``"BatchNorm2d"``.
        x: the input.
        spatial: how many spatial dims the layer works on (2 or 3).
        channels: the channels the layer was built for, or None when any count will do.
        channel_arg: the constructor argument that set ``channels``, e.g. ``"num_features"``.
        unbatched: whether a single image without the batch dim is accepted, as torch does
            for convolutions and instance norm (but not for batch norm, which needs a batch).
    """
    x = check_tensor("x", x)
    batched = spatial + 2
    if x.dim() != batched and not (unbatched and x.dim() == batched - 1):
        also = f" or {batched - 1}D (unbatched)" if unbatched else ""
        raise ValueError(
            f"{layer} expects {batched}D input {LAYOUTS[spatial]}{also}, got {x.dim()}D input "
            f"of shape {tuple(x.shape)}"
        )
    channel_dim = x.dim() - spatial - 1
    if channels is not None and x.shape[channel_dim] != channels:
        raise ValueError(
            f"x has {x.shape[channel_dim]} channels (dim {channel_dim} of shape "
            f"{tuple(x.shape)}), but this {layer} was built for {channel_arg}={channels}"
        )
    return x

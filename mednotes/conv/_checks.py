"""Argument checks shared by the signal view, the network view and the size arithmetic.

Every message names the argument, says what was expected and what was given, so that a
reader who passes a wrong shape in a notebook learns what to change without reading code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def is_int(value: object) -> bool:
    """True for python and numpy integers, but not for bools (``True`` is not a size)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def ntuple(name: str, value: object, n: int | None, minimum: int) -> tuple[int, ...]:
    """Turn an int or a sequence of ints into an ``n``-tuple, each at least ``minimum``.

    With ``n=None`` a sequence keeps its own length and an int becomes a 1-tuple.
    """
    if is_int(value):
        items = (int(value),) * (1 if n is None else n)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = tuple(value)
        if not all(is_int(v) for v in items):
            raise TypeError(f"{name} must hold ints, got {value!r}")
        items = tuple(int(v) for v in items)
        if n is not None and len(items) != n:
            raise ValueError(f"{name} must have {n} entries (one per spatial dim), got {value!r}")
        if not items:
            raise ValueError(f"{name} must not be empty, got {value!r}")
    else:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {type(value).__name__}")
    if any(v < minimum for v in items):
        bound = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return items


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else say which ones are valid."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}; got {value!r}")
    return value


def check_tensor(name: str, value: object) -> torch.Tensor:
    """A real floating-point torch tensor, or a TypeError that says what came instead."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.is_complex():
        raise TypeError(f"{name} has complex dtype {value.dtype}; only real tensors are supported")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} has dtype {value.dtype}; expected a floating dtype such as float32"
        )
    return value

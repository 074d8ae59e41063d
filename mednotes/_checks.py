"""Argument checks for the whole library, in one place.

Every public function of mednotes checks what it is given with these, so that a mistake reads
the same wherever it is made. Each message names the argument, says what was expected and what
came instead; a reader who passes ``"False"`` for a flag, ``nan`` for a width or a 3-D tensor
to a 2-D layer learns what to change without opening the library.

The rules, once:

- a flag is a ``bool``: ``0``, ``1``, ``"no"`` or ``"False"`` are refused, never guessed at;
- an integer is a python or numpy integer, never a bool or a float that happens to be whole;
- a number is a real, finite python or numpy number (``nan`` and ``inf`` are refused);
- a tensor argument is a real floating-point ``torch.Tensor`` unless a function says otherwise.

Example:
    >>> check_bool("skips", "no")
    Traceback (most recent call last):
    ...
    TypeError: skips must be True or False, got str 'no'
    >>> check_number("width", float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: width must be finite, got nan
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

#: The layout of a batch with this many spatial dims, for error messages.
LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
#: The layout of one unbatched item.
UNBATCHED_LAYOUTS = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}


def describe(value: object) -> str:
    """``str 'no'``, ``float nan``: the type and the value, for messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def sizes(values: Sequence[int]) -> str:
    """``(3, 4)`` -> ``"3×4"``: sizes written the way the book's figures label them."""
    return "×".join(str(v) for v in values)


# ------------------------------------------------------------------------------- scalars


def is_int(value: object) -> bool:
    """True for python and numpy integers, but not for bools (``True`` is not a size)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is True or False; ``0``, ``1`` or ``"False"`` are refused.

    A string such as ``"False"`` is truthy in python, so accepting it would silently do the
    opposite of what was meant.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def check_int(
    name: str, value: object, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (either bound may be None)."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            bound = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        elif minimum is None:
            bound = f"an int <= {maximum}"
        else:
            bound = f"an int between {minimum} and {maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int >= 1."""
    return check_int(name, value, minimum=1)


def check_number(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high``.

    The interval is closed unless ``open_low``/``open_high`` say otherwise; a bound of None is
    no bound. Python and numpy reals are accepted; bools, strings, complex numbers, NaN and
    infinities are not.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    below = low is not None and (value <= low if open_low else value < low)
    above = high is not None and (value >= high if open_high else value > high)
    if below or above:
        if high is None:
            bound = f"{'>' if open_low else '>='} {low}"
        elif low is None:
            bound = f"{'<' if open_high else '<='} {high}"
        else:
            bound = f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_choice(name: str, value: object, choices: Sequence[object]) -> object:
    """``value`` if it is one of ``choices``, else a message listing the valid ones."""
    def same(c: object) -> bool:  # no ==, which is elementwise for arrays and True == 1
        if isinstance(c, str):
            return isinstance(value, str) and value == c
        if is_int(c):
            return is_int(value) and int(value) == c
        return value is c

    if not any(same(c) for c in choices):
        listed = ", ".join(repr(c) for c in choices)
        if all(is_int(c) for c in choices if c is not None) and not is_int(value):
            # dim=2.0 or dim="2": the wrong kind of thing, not a wrong number
            raise TypeError(f"{name} must be an int, one of {listed}; got {describe(value)}")
        got = repr(value) if isinstance(value, str) else describe(value)
        raise ValueError(f"{name} must be one of {listed}; got {got}")
    return value


def ntuple(name: str, value: object, n: int | None, minimum: int | None) -> tuple[int, ...]:
    """Turn an int or a sequence of ints into an ``n``-tuple, each at least ``minimum``.

    With ``n=None`` a sequence keeps its own length and an int becomes a 1-tuple; with
    ``minimum=None`` any int is allowed (shifts may be negative).
    """
    if is_int(value):
        items = (int(value),) * (1 if n is None else n)
    elif isinstance(value, (Sequence, torch.Size)) and not isinstance(value, (str, bytes)):
        items = tuple(value)
        if not all(is_int(v) for v in items):
            raise TypeError(f"{name} must hold ints, got {value!r}")
        items = tuple(int(v) for v in items)
        if n is not None and len(items) != n:
            raise ValueError(f"{name} must have {n} entries (one per spatial dim), got {value!r}")
        if not items:
            raise ValueError(f"{name} must not be empty, got {value!r}")
    else:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {describe(value)}")
    if minimum is not None and any(v < minimum for v in items):
        bound = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return items


def check_device(name: str, value: object) -> torch.device | None:
    """``None``, a ``torch.device`` or a device string torch understands, as a torch.device.

    Whether the machine has that device is :func:`mednotes.device`'s business; this only
    refuses what is not a device at all (``"gpu"``, ``3.5``).
    """
    if value is None or isinstance(value, torch.device):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a device such as 'cpu' or 'cuda', got {describe(value)}")
    try:
        return torch.device(value)
    except RuntimeError:
        raise ValueError(
            f"{name}={value!r} is not a device; expected 'cpu', 'cuda', 'cuda:0' or 'mps'"
        ) from None


def check_float_dtype(name: str, value: object) -> torch.dtype | None:
    """None or a floating-point ``torch.dtype``: parameters of integer dtype cannot learn."""
    if value is None:
        return None
    if not isinstance(value, torch.dtype):
        raise TypeError(f"{name} must be a torch.dtype such as torch.float32, got {describe(value)}")
    if not value.is_floating_point:
        raise TypeError(
            f"{name}={value} is not a floating dtype; parameters and kernels need one such as "
            "torch.float32 (gradients and initial values are fractions)"
        )
    return value


# ------------------------------------------------------------------------------- tensors


def check_tensor(name: str, value: object) -> torch.Tensor:
    """A real floating-point torch tensor, or a TypeError that says what came instead."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.is_complex():
        raise TypeError(f"{name} has complex dtype {value.dtype}; only real tensors are supported")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} has dtype {value.dtype}; expected a floating dtype such as float32 "
            f"(convert with {name}.float())"
        )
    return value


def check_input(
    op: str,
    x: object,
    spatial: int,
    *,
    channels: int | None = None,
    channel_arg: str = "in_channels",
    unbatched: bool = True,
) -> bool:
    """Check the input of an op on ``spatial`` spatial dims; True when ``x`` has no batch dim.

    Args:
        op: the op's name for messages, e.g. ``"BatchNorm2d"`` or ``"max_pool2d"``.
        x: the input.
        spatial: how many spatial dims the op works on (1, 2 or 3).
        channels: the channels the op was built for, or None when any count will do.
        channel_arg: the constructor argument that set ``channels``.
        unbatched: whether a single item without the batch dim is accepted, as torch does
            for convolutions and pooling (but not for batch norm, which needs a batch).
    """
    check_tensor("x", x)
    batched = spatial + 2
    if x.dim() != batched and not (unbatched and x.dim() == batched - 1):
        also = f" or {batched - 1}D {UNBATCHED_LAYOUTS[spatial]} (unbatched)" if unbatched else ""
        hint = ""
        if not unbatched and x.dim() == batched - 1:
            hint = "; for a single item, add the batch dim with x.unsqueeze(0)"
        if x.dim() in (3, 4, 5):
            hint += (f"; a {x.dim()}D batch has {x.dim() - 2} spatial dims, and {op} works on "
                     f"{spatial}")
        raise ValueError(
            f"{op} expects {batched}D input {LAYOUTS[spatial]}{also}, got {x.dim()}D input "
            f"of shape {tuple(x.shape)}{hint}"
        )
    channel_dim = x.dim() - spatial - 1
    if channels is not None and x.shape[channel_dim] != channels:
        raise ValueError(
            f"x has {x.shape[channel_dim]} channels (dim {channel_dim} of shape "
            f"{tuple(x.shape)}), but this {op} was built for {channel_arg}={channels}"
        )
    if 0 in x.shape[channel_dim:]:
        raise ValueError(f"x is empty: shape {tuple(x.shape)} has a zero channel or spatial size")
    return x.dim() == batched - 1


def check_same_device_dtype(reference: str, x: torch.Tensor, **others: torch.Tensor | None) -> None:
    """Every tensor in ``others`` lives on ``x``'s device and has its dtype."""
    for label, other in others.items():
        if other is None:
            continue
        if other.device != x.device:
            raise ValueError(
                f"{label} is on {other.device}, {reference} is on {x.device}; use one device"
            )
        if other.dtype != x.dtype:
            raise TypeError(
                f"{label} has dtype {other.dtype}, {reference} has {x.dtype}; use one dtype"
            )

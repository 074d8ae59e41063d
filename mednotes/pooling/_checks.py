"""Argument checks shared by the pooling ops: input layout, window sizes, the error wording."""

from __future__ import annotations

import torch

from mednotes.conv._checks import check_tensor

LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
UNBATCHED = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}


def sizes(values: tuple[int, ...]) -> str:
    """``(3, 4)`` -> ``"3×4"``: sizes read like the book's figures label them."""
    return "×".join(str(v) for v in values)


def check_input(op: str, n: int, x: object) -> bool:
    """A floating tensor with ``n`` spatial dims, batched or not; True when unbatched.

    torch's pooling accepts a single image without the batch dim, and so do we.
    """
    check_tensor("x", x)
    if x.dim() not in (n + 1, n + 2):
        raise ValueError(
            f"x has {x.dim()} dims with shape {tuple(x.shape)}; {op} expects {n + 2} "
            f"{LAYOUT[n]} or {n + 1} {UNBATCHED[n]} for a single unbatched item"
        )
    if 0 in x.shape[-n - 1:]:
        raise ValueError(f"x is empty: shape {tuple(x.shape)} has a zero channel or spatial size")
    return x.dim() == n + 1


def check_bool(name: str, value: object) -> bool:
    """Flags must be real bools: ``ceil_mode=1`` or ``"yes"`` is almost always a slip."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def batched(x: torch.Tensor, unbatched: bool) -> torch.Tensor:
    return x.unsqueeze(0) if unbatched else x

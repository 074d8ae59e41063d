"""Mixed precision: how mednotes' from-scratch ops follow ``torch.autocast``.

Under ``torch.autocast`` torch changes the dtype of some of its own ops and leaves the rest
alone. A network built from mednotes layers must see the same dtypes as one built from
``torch.nn``, or the next layer meets a bfloat16 activation and a float32 weight. torch sorts
its ops into three groups, and so do we:

- ``"lower"``: convolutions and matrix products run in the autocast dtype (float16 on CUDA,
  bfloat16 on the CPU by default); their float32 inputs are cast down first.
- ``"float32"``: ops that lose too much in half precision run in float32. Which ones depends on
  the device: on CUDA, group norm and layer norm (on the CPU torch leaves them alone); on the
  CPU, 3-D max and average pooling (CUDA leaves them alone).
- everything else (batch norm, activations, pooling): computed in the dtype of the input.

Inside an op, after this explicit cast, autocast is switched off so that our intermediate
steps (an ``einsum``, an ``exp``) are not cast a second time behind our back.

Example:
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     autocast_dtype("lower", "cpu"), autocast_dtype("float32", "cpu", "group_norm")
    (torch.bfloat16, None)
    >>> autocast_dtype("lower", "cpu") is None  # autocast is off out here
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

#: Per device type, the ops in mednotes' "float32" group: those torch's autocast runs in float32
#: (measured for the CPU; from torch's autocast lists for CUDA, and checked by the GPU tests).
FLOAT32_OPS = {
    "cpu": frozenset({"max_pool3d", "avg_pool3d"}),
    "cuda": frozenset({"group_norm", "layer_norm"}),
}
POLICIES = ("lower", "float32", "same")
#: The half-precision dtypes, which mednotes' own sums accumulate in float32.
HALF = (torch.float16, torch.bfloat16)


def autocast_dtype(policy: str, device_type: str, op: str | None = None) -> torch.dtype | None:
    """The dtype an op of this ``policy`` computes in under the active autocast, or None.

    None means: autocast is off for ``device_type``, or it leaves this op's dtype alone.

    Args:
        policy: ``"lower"``, ``"float32"`` or ``"same"`` (see the module docstring).
        device_type: ``"cpu"``, ``"cuda"``, ... (``tensor.device.type``).
        op: for ``policy="float32"``, the op's name, looked up in ``FLOAT32_OPS``.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if policy == "float32" and op is None:
        raise ValueError("policy='float32' needs op, the name to look up in FLOAT32_OPS")
    if policy == "same" or not _autocast_on(device_type):
        return None
    if policy == "lower":
        return torch.get_autocast_dtype(device_type)
    if op in FLOAT32_OPS.get(device_type, ()):
        return torch.float32
    return None


def cast_dtype(dtype: torch.dtype, target: torch.dtype | None) -> torch.dtype:
    """The dtype autocast gives a tensor of ``dtype`` for an op that computes in ``target``:
    float64 and non-float dtypes are kept, and None (no cast) keeps everything."""
    if target is None or not dtype.is_floating_point or dtype == torch.float64:
        return dtype
    return target


def cast(tensor: object, dtype: torch.dtype | None) -> object:
    """``tensor`` in ``dtype`` the way autocast casts (see :func:`cast_dtype`).

    Anything that is not a tensor comes back unchanged, for the argument checks to refuse.
    """
    if not isinstance(tensor, torch.Tensor):
        return tensor
    return tensor.to(cast_dtype(tensor.dtype, dtype))


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half precision, else ``dtype``: torch's kernels sum halves in float32 too."""
    return torch.float32 if dtype in HALF else dtype


@contextlib.contextmanager
def autocast_off(device_type: str) -> Iterator[None]:
    """Switch autocast off for ``device_type`` inside the block (a no-op when it is off)."""
    if _autocast_on(device_type):
        with torch.autocast(device_type, enabled=False):
            yield
    else:
        yield


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except (RuntimeError, ValueError):  # a device type autocast does not know, e.g. "meta"
        return False

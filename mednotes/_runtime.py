"""Device choice and determinism: the two things every chapter does first."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_ENV_VAR = "MEDNOTES_DEVICE"
_KNOWN = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device types usable here, best first.

    Example:
        >>> "cpu" in available_devices()
        True
    """
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def device(name: str | None = None) -> torch.device:
    """Return the torch device to compute on: cuda, then mps, then cpu.

    Args:
        name: ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"cpu"``. When omitted, the environment
            variable ``MEDNOTES_DEVICE`` decides if it is set, otherwise the best device found.

    Raises:
        ValueError: for an unknown name, or a device that this machine does not have. The
            message lists the devices that are available.

    Explained in: Setup and first look.

    Example:
        >>> device("cpu")
        device(type='cpu')
    """
    source = "name"
    if name is None:
        name = os.environ.get(_ENV_VAR) or None
        source = _ENV_VAR
    available = available_devices()
    if name is None:
        return torch.device(available[0])
    if not isinstance(name, str):
        raise TypeError(f"device name must be a str such as 'cpu', got {type(name).__name__}")
    kind, _, index = name.strip().lower().partition(":")
    if kind not in _KNOWN:
        raise ValueError(
            f"{source}={name!r} is not a device type; expected one of {', '.join(_KNOWN)}. "
            f"Available here: {', '.join(available)}"
        )
    if kind not in available:
        raise ValueError(
            f"{source}={name!r} asks for {kind}, which this machine does not have. "
            f"Available here: {', '.join(available)}"
        )
    if index:
        if not index.isdigit():
            raise ValueError(f"{source}={name!r}: the device index must be a number, got {index!r}")
        if kind == "cuda" and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"{source}={name!r}: only {torch.cuda.device_count()} CUDA device(s) are present"
            )
        return torch.device(kind, int(index))
    return torch.device(kind)


def seed_everything(seed: int) -> None:
    """Make python's ``random``, numpy's global generator and torch deterministic.

    Also asks torch for deterministic algorithms where it has them, so that two runs with the
    same seed give the same numbers on the same machine.

    Args:
        seed: a non-negative integer.

    Explained in: Setup and first look.

    Example:
        >>> seed_everything(3); a = torch.rand(2)
        >>> seed_everything(3); b = torch.rand(2)
        >>> bool(torch.equal(a, b))
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device as well
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
    # cuBLAS needs this to be deterministic; it only matters before the first CUDA matmul.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

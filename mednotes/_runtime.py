"""Device choice and determinism: the two things every chapter does first."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from mednotes._checks import check_bool, check_int

_ENV_VAR = "MEDNOTES_DEVICE"
_CUBLAS_VAR = "CUBLAS_WORKSPACE_CONFIG"
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
        TypeError: when ``name`` is not a str.
        ValueError: for an unknown name, or a device that this machine does not have. The
            message lists the devices that are available and says where the name came from
            (the argument or ``MEDNOTES_DEVICE``).

    Explained in: Setup and first look.

    Example:
        >>> device("cpu")
        device(type='cpu')
    """
    return _pick(name, "name")


def _pick(name: str | None, label: str) -> torch.device:
    """:func:`device`, with errors that call the argument ``label`` (``device`` in fit)."""
    source = label
    if name is None:
        name = os.environ.get(_ENV_VAR) or None
        source = _ENV_VAR
    available = available_devices()
    if name is None:
        return torch.device(available[0])
    if not isinstance(name, str):
        raise TypeError(f"{'device name' if label == 'name' else label} must be a str such as "
                        f"'cpu', got {type(name).__name__}")
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


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python's ``random``, numpy's global generator and torch (every device).

    Two runs of CPU code seeded alike give the same numbers on the same machine. On CUDA,
    some kernels may still differ in the last bits between runs (those that add with atomics,
    such as index_add, scatter_add and the backward passes of some convolutions and of
    interpolation), unless ``deterministic=True`` asks torch for kernels that never do.

    Args:
        seed: an int in ``[0, 2**32)``.
        deterministic: also make torch pick deterministic kernels, for the rest of the
            session: ``torch.use_deterministic_algorithms(True, warn_only=True)``,
            ``cudnn.deterministic = True``, ``cudnn.benchmark = False`` and
            ``CUBLAS_WORKSPACE_CONFIG`` (when not set). This costs speed on CUDA
            (deterministic kernels are slower, cuDNN no longer picks its fastest algorithm,
            and new memory is filled before use), and ops that have no deterministic version
            on CUDA (e.g. the backward of bilinear interpolation or of adaptive average
            pooling) warn each time they run. With False (the default) these settings are
            left as they are. To be deterministic only inside one training run, use
            ``fit(..., deterministic=True)``.

    Raises:
        TypeError: when ``seed`` is not an int or ``deterministic`` is not a bool.
        ValueError: when ``seed`` is outside ``[0, 2**32)``.

    Explained in: Setup and first look.

    Example:
        >>> seed_everything(3); a = torch.rand(2)
        >>> seed_everything(3); b = torch.rand(2)
        >>> bool(torch.equal(a, b))
        True
    """
    seed = check_int("seed", seed, 0, 2**32 - 1)
    deterministic = check_bool("deterministic", deterministic)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device as well
    if deterministic:
        _use_deterministic_kernels()


def _use_deterministic_kernels() -> None:
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    # cuBLAS needs this to be deterministic; it only matters before the first CUDA matmul.
    os.environ.setdefault(_CUBLAS_VAR, ":4096:8")


@contextlib.contextmanager
def deterministic_kernels(enabled: bool = True) -> Iterator[None]:
    """Inside the block, torch uses deterministic kernels; afterwards, what was set before.

    Restores ``torch.are_deterministic_algorithms_enabled()`` (and its warn-only flag),
    ``cudnn.benchmark``, ``cudnn.deterministic`` and ``CUBLAS_WORKSPACE_CONFIG`` when the block
    ends, by return or by exception. With ``enabled=False`` it changes nothing.

    Example:
        >>> before = torch.are_deterministic_algorithms_enabled()
        >>> with deterministic_kernels():
        ...     torch.are_deterministic_algorithms_enabled()
        True
        >>> torch.are_deterministic_algorithms_enabled() == before
        True
    """
    if not check_bool("enabled", enabled):
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             os.environ.get(_CUBLAS_VAR))
    _use_deterministic_kernels()
    try:
        yield
    finally:
        algorithms, warn_only, benchmark, cudnn_deterministic, cublas = saved
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark
        torch.backends.cudnn.deterministic = cudnn_deterministic
        if cublas is None:
            os.environ.pop(_CUBLAS_VAR, None)
        else:
            os.environ[_CUBLAS_VAR] = cublas

"""Checkpoints that are safe to load and never half-written.

Safe to load: only tensors and plain containers are stored, so ``torch.load(...,
weights_only=True)`` reads them without running pickled code. Never half-written: the file is
written under a temporary name in the same folder and moved into place with ``os.replace``,
which is atomic, so a crash leaves either the old checkpoint or the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mednotes.train.history import History

_FORMAT = "mednotes-checkpoint-1"


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel/DataParallel wrapper (or the model)."""
    return model.module if isinstance(
        model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def save_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None, epoch: int,
                    history: History | None = None, **extra: Any) -> Path:
    """Save model and optimizer state, the epoch reached and the history, atomically.

    Args:
        path: file to write; its folder is created if missing.
        model: the network (a DDP wrapper is unwrapped, so keys have no ``module.`` prefix).
        optimizer: its state (moments, step counts, learning rate) is saved too; or None.
        epoch: number of epochs completed.
        history: a :class:`History`, stored as plain dicts and numbers.
        **extra: more tensors, numbers, strings or containers of them (e.g. a GradScaler's
            ``state_dict()``). Anything else cannot be loaded with ``weights_only=True``.

    Returns:
        the path written.

    Explained in: Training a segmentation network.

    Example:
        >>> import tempfile, pathlib
        >>> net = nn.Linear(2, 1)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "net.pt"
        >>> _ = save_checkpoint(path, net, None, epoch=3, note="demo")
        >>> load_checkpoint(path, nn.Linear(2, 1))["epoch"]
        3
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a History or None, got {type(history).__name__}")
    state = {
        "format": _FORMAT,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": epoch,
        "history": history.to_dict() if history is not None else None,
        "extra": extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``.

    Args:
        path: the checkpoint file.
        model: receives the saved weights (strictly: every key must match), or None.
        optimizer: receives the saved optimizer state, or None to skip it.
        map_location: where tensors are loaded first (``"cpu"`` by default; ``load_state_dict``
            then copies them onto the model's own device).

    Returns:
        a dict with ``epoch`` (int), ``history`` (a :class:`History` or None), ``extra`` (the
        extra keywords given when saving), ``model`` and ``optimizer`` (the raw state dicts).

    Raises:
        FileNotFoundError: when there is no file at ``path``.
        ValueError: when the file is not a mednotes checkpoint, or ``optimizer`` is given but
            the checkpoint has no optimizer state.

    Explained in: Training a segmentation network.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(f"{str(path)!r} is not a checkpoint written by "
                         "mednotes.train.save_checkpoint")
    if model is not None:
        unwrap(model).load_state_dict(state["model"])
    if optimizer is not None:
        if state["optimizer"] is None:
            raise ValueError(f"optimizer given, but {str(path)!r} was saved without one")
        optimizer.load_state_dict(state["optimizer"])
    history = state["history"]
    state["history"] = History.from_dict(history) if history is not None else None
    return state

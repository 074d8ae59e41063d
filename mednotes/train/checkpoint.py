"""Checkpoints that are safe to load, never half-written, and never written over by accident.

Safe to load: only tensors and plain containers are stored, so ``torch.load(...,
weights_only=True)`` reads them without running pickled code; :func:`save_checkpoint` proves
it by loading the bytes that way before it writes them. Never half-written: the file is
written under a temporary name in the same folder and moved into place with ``os.replace``,
which is atomic, so a crash leaves either the old checkpoint or the new one. Never written
over by accident: an existing file is replaced only with ``overwrite=True``. And a checkpoint
that does not fit the model changes nothing: every key and shape is checked before the first
weight is copied.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mednotes._checks import check_bool, check_device, check_int, describe
from mednotes.train.history import History

_FORMAT = "mednotes-checkpoint-1"
_LISTED = 5  # at most this many keys are named in an error message


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel/DataParallel wrapper (or the model)."""
    return model.module if isinstance(
        model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def save_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None, epoch: int,
                    history: History | None = None, *, overwrite: bool = False,
                    **extra: Any) -> Path:
    """Save model and optimizer state, the epoch reached and the history, atomically.

    Args:
        path: file to write; its folder is created if missing.
        model: the network (a DDP wrapper is unwrapped, so keys have no ``module.`` prefix).
        optimizer: its state (moments, step counts, learning rate) is saved too; or None.
        epoch: number of epochs completed, an int >= 0.
        history: a :class:`History`, stored as plain dicts and numbers.
        overwrite: replace a file already at ``path``. By default an existing file is
            refused (FileExistsError) and left as it was.
        **extra: more tensors, numbers, strings or containers of them (e.g. a GradScaler's
            ``state_dict()``). Anything else cannot be loaded with ``weights_only=True`` and
            is refused (TypeError naming the keyword) before anything is written.

    Returns:
        the path written.

    Raises:
        FileExistsError: when ``path`` exists and ``overwrite`` is False.
        TypeError: for an argument of the wrong type, or a value that ``torch.load(...,
            weights_only=True)`` would refuse.

    Explained in: Training a segmentation network.

    Example:
        >>> import tempfile, pathlib
        >>> net = nn.Linear(2, 1)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "net.pt"
        >>> _ = save_checkpoint(path, net, None, epoch=3, note="demo")
        >>> load_checkpoint(path, nn.Linear(2, 1))["epoch"]
        3
        >>> _ = save_checkpoint(path, net, None, epoch=4)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileExistsError: path ... already exists; pass overwrite=True to replace it
        >>> _ = save_checkpoint(path, net, None, epoch=4, overwrite=True)
        >>> load_checkpoint(path)["epoch"]
        4
    """
    path = _check_path("path", path)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {describe(model)}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got "
                        f"{describe(optimizer)}")
    epoch = check_int("epoch", epoch, minimum=0)
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a History or None, got {type(history).__name__}")
    if check_bool("overwrite", overwrite):
        if path.is_dir():
            raise ValueError(f"path {str(path)!r} is a folder, not a checkpoint file")
    elif path.exists() or path.is_symlink():
        raise FileExistsError(f"path {str(path)!r} already exists; pass overwrite=True to "
                              "replace it")
    _write_atomically(path, _serialize(_state(model, optimizer, epoch, history, extra)))
    return path


def _state(model: nn.Module, optimizer: torch.optim.Optimizer | None, epoch: int,
           history: History | None, extra: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint file holds, as plain containers of tensors and numbers."""
    return {
        "format": _FORMAT,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": epoch,
        "history": history.to_dict() if history is not None else None,
        "extra": extra,
    }


def _serialize(state: dict[str, Any]) -> bytes:
    """The bytes of ``state``, once proven to load back with ``weights_only=True``."""
    try:
        data = _to_bytes(state)
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return data
    except Exception:  # find the culprit: a file that cannot be loaded must not be written
        parts = [(f"extra keyword {key!r}", value) for key, value in state["extra"].items()]
        parts += [(f"the {key} state", state[key]) for key in ("model", "optimizer")]
        for label, value in parts:
            try:
                torch.load(io.BytesIO(_to_bytes(value)), map_location="cpu",
                           weights_only=True)
            except Exception:
                raise TypeError(
                    f"{label} holds {describe(value)}, which torch.load(..., "
                    "weights_only=True) cannot load back; store only tensors, numbers, "
                    "strings and lists/dicts of them (a numpy value: .item() or "
                    "torch.as_tensor)") from None
        raise


def _to_bytes(value: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                             dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``.

    Everything is checked before anything is loaded: when the checkpoint does not fit
    ``model`` or ``optimizer`` (a missing or unexpected key, another shape, a float tensor
    where the model has an integer one, another number of parameter groups), neither of them
    changes.

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
        ValueError: when the file is not a readable mednotes checkpoint (empty, truncated,
            another format), when it does not fit ``model`` or ``optimizer``, or when
            ``optimizer`` is given but the checkpoint has no optimizer state. The message
            names the path.

    Explained in: Training a segmentation network.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "net.pt"
        >>> _ = save_checkpoint(path, nn.Linear(2, 1), None, epoch=1)
        >>> load_checkpoint(path, nn.Linear(3, 1))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: checkpoint ... does not fit the model: weight: checkpoint (1, 2), model (1, 3)
    """
    state = _read(path, map_location)
    _apply(state, model, optimizer, path)
    return state


def _read(path: str | os.PathLike,
                    map_location: str | torch.device | None = "cpu") -> dict[str, Any]:
    """The contents of a mednotes checkpoint file, checked to be one; nothing is applied.

    The ``history`` entry becomes a :class:`History` (or None). Raises as
    :func:`load_checkpoint`.
    """
    path = _check_path("path", path)
    map_location = check_device("map_location", map_location)
    if not path.is_file():
        if path.exists():
            raise ValueError(f"path {str(path)!r} is not a file, so not a checkpoint")
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # empty, truncated, numpy, text, or pickled code
        reason = ("the file is empty" if path.stat().st_size == 0 else
                  f"it is damaged or in another format ({type(error).__name__} from torch.load)")
        raise ValueError(f"{str(path)!r} is not a readable checkpoint: {reason}") from None
    if (not isinstance(state, dict) or state.get("format") != _FORMAT
            or not {"model", "optimizer", "epoch", "history", "extra"} <= state.keys()):
        raise ValueError(f"{str(path)!r} is not a checkpoint written by "
                         "mednotes.train.save_checkpoint")
    history = state["history"]
    state["history"] = History.from_dict(history) if history is not None else None
    return state


def _apply(state: dict[str, Any], model: nn.Module | None,
                     optimizer: torch.optim.Optimizer | None, path: str | os.PathLike) -> None:
    """Copy a :func:`_read` state into ``model`` and ``optimizer``, all or nothing.

    ``path`` only names the file in messages.
    """
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or None, got {describe(model)}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got "
                        f"{describe(optimizer)}")
    if model is not None:
        model = unwrap(model)
        problems = _state_dict_problems(state["model"], model.state_dict())
        if problems:
            raise ValueError(f"checkpoint {str(path)!r} does not fit the model: "
                             f"{_listed(problems)}")
    if optimizer is not None:
        if state["optimizer"] is None:
            raise ValueError(f"optimizer given, but {str(path)!r} was saved without one")
        problems = _optimizer_problems(state["optimizer"], optimizer)
        if problems:
            raise ValueError(f"checkpoint {str(path)!r} does not fit the optimizer: "
                             f"{_listed(problems)}")
    if model is not None:
        model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])


def _state_dict_problems(saved: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What stops ``saved`` from loading into a model whose state dict is ``expected``."""
    problems = []
    missing = [key for key in expected if key not in saved]
    unexpected = [key for key in saved if key not in expected]
    if missing:
        problems.append(f"missing keys {_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_keys(unexpected)}")
    for key, mine in expected.items():
        theirs = saved.get(key)
        if not (isinstance(mine, torch.Tensor) and isinstance(theirs, torch.Tensor)):
            continue  # e.g. a module's extra state, which its own hook checks
        if theirs.shape != mine.shape:
            problems.append(f"{key}: checkpoint {tuple(theirs.shape)}, model {tuple(mine.shape)}")
        elif _kind(theirs.dtype) != _kind(mine.dtype):
            problems.append(f"{key}: checkpoint dtype {theirs.dtype}, model dtype {mine.dtype}")
    return problems


def _optimizer_problems(saved: dict[str, Any], optimizer: torch.optim.Optimizer) -> list[str]:
    """What stops ``saved`` from loading into ``optimizer``: groups, sizes, state shapes."""
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not isinstance(saved.get("state"), dict):
        return ["its optimizer state is not an optimizer state_dict"]
    if len(groups) != len(optimizer.param_groups):
        return [f"{len(groups)} parameter group(s) saved, the optimizer has "
                f"{len(optimizer.param_groups)}"]
    problems = []
    for i, (group, mine) in enumerate(zip(groups, optimizer.param_groups)):
        if len(group["params"]) != len(mine["params"]):
            problems.append(f"group {i} has {len(group['params'])} parameters saved, "
                            f"{len(mine['params'])} in the optimizer")
            continue
        for j, (number, param) in enumerate(zip(group["params"], mine["params"])):
            for name, value in saved["state"].get(number, {}).items():
                if (isinstance(value, torch.Tensor) and value.dim() > 0
                        and value.shape != param.shape):
                    problems.append(f"state {name!r} of parameter {j} in group {i}: checkpoint "
                                    f"{tuple(value.shape)}, parameter {tuple(param.shape)}")
    return problems


def _kind(dtype: torch.dtype) -> str:
    if dtype.is_complex:
        return "complex"
    return "floating" if dtype.is_floating_point else "integer"


def _keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > _LISTED else shown


def _listed(problems: list[str]) -> str:
    shown = "; ".join(problems[:_LISTED])
    return f"{shown}; ... ({len(problems)} problems in all)" if len(problems) > _LISTED else shown


def _check_path(name: str, value: object) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or path, got {describe(value)}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{name} must name a file, got an empty string")
    return Path(value)

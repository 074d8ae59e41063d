"""Targets and predictions of segmentation, checked once for the losses and the metrics.

A segmentation target comes in one of two forms, told apart by its shape:

- class indices ``(N, *spatial)``, an integer tensor with one class per pixel;
- one channel per class ``(N, C, *spatial)``, the shape of the logits: one-hot, soft labels or,
  for a sigmoid network, one binary mask per channel.

Every check here reads the values once (a single device-to-host copy), so a mistake such as a
label 3 for a two-class network is a clear error instead of an index error deep in a kernel
or a loss that is quietly wrong.

Example:
    >>> one_hot(torch.tensor([[0, 2, 1]]), 3)
    tensor([[[1., 0., 0.],
             [0., 0., 1.],
             [0., 1., 0.]]])
"""

from __future__ import annotations

import torch

from mednotes._checks import check_choice, check_tensor, describe

REDUCTIONS = ("mean", "sum", "none")


def is_index_target(logits: torch.Tensor, target: object, *, name: str = "target",
                    reference: str = "logits") -> bool:
    """True for class indices ``(N, *spatial)``, False for one channel per class.

    Refuses anything else with a message that shows both accepted shapes.
    """
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(target).__name__}")
    if target.is_complex():
        raise TypeError(f"{name} has complex dtype {target.dtype}; only real tensors are supported")
    if target.device != logits.device:
        raise ValueError(f"{name} is on {target.device}, {reference} is on {logits.device}; use "
                         "one device")
    shape, wanted = tuple(target.shape), tuple(logits.shape)
    if shape == wanted:
        return False
    indices = wanted[:1] + wanted[2:]
    if shape == indices:
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(f"{name} of shape {shape} holds class indices, which need an integer "
                            f"dtype such as int64; got {target.dtype} (use {name}.long())")
        return True
    hint = ""
    if len(shape) == len(wanted) and shape[1:2] == (1,) and shape[:1] + shape[2:] == indices:
        hint = f"; class indices go without the channel dim: use {name}[:, 0]"
    raise ValueError(f"{name} has shape {shape}, {reference} has shape {wanted}; expected class "
                     f"indices {indices} or one channel per class {wanted}{hint}")


def check_index_values(name: str, target: torch.Tensor, num_classes: int,
                       ignore_index: int | None = None) -> None:
    """Every value lies in ``[0, num_classes)`` or equals ``ignore_index``."""
    if target.numel() == 0:
        return
    values = target if ignore_index is None else target[target != ignore_index]
    if values.numel() == 0:
        return
    low, high = (int(v) for v in torch.stack([values.min(), values.max()]).tolist())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        also = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
        raise ValueError(f"{name} holds class {bad}, outside [0, {num_classes}) for "
                         f"{num_classes} classes{also}")


def check_unit_interval(name: str, values: torch.Tensor, *, sum_to_one: bool = False,
                        what: str = "probabilities") -> None:
    """Values in ``[0, 1]``; with ``sum_to_one``, each pixel's channels add up to one."""
    if values.numel() == 0:
        return
    x = values.detach()
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    stats = [x.min().double(), x.max().double()]
    tolerance = 1e-2 if x.dtype in (torch.float16, torch.bfloat16) else 1e-4
    if sum_to_one:
        sums = x.double().sum(1)
        stats.append((sums - 1).abs().max())
    stats = torch.stack(stats).tolist()
    if not (stats[0] >= 0 and stats[1] <= 1):  # written so that NaN fails too
        raise ValueError(f"{name} must hold {what} in [0, 1], got values from {stats[0]:.4g} "
                         f"to {stats[1]:.4g}")
    if sum_to_one and not stats[2] <= tolerance:
        raise ValueError(f"{name} must sum to one over its channels (dim 1), one class per "
                         f"pixel; some pixels are off by {stats[2]:.3g}")


def check_hard(name: str, mask: torch.Tensor) -> torch.Tensor:
    """A 0/1 mask (bool, integer or float) as a bool tensor; soft values are refused."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.is_complex():
        raise TypeError(f"{name} has complex dtype {mask.dtype}; only real tensors are supported")
    if mask.dtype == torch.bool:
        return mask
    if mask.numel() and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"{name} must be a hard mask of 0s and 1s (threshold or argmax the "
                         "prediction first), got other values")
    return mask.bool()


def one_hot(index: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32,
            ) -> torch.Tensor:
    """Class indices ``(N, *spatial)`` as one channel per class ``(N, C, *spatial)``.

    Values outside ``[0, num_classes)`` (an ignored pixel) give a pixel of zeros.
    """
    classes = torch.arange(num_classes, device=index.device)
    shape = (1, num_classes) + (1,) * (index.dim() - 1)
    return (index.unsqueeze(1) == classes.view(shape)).to(dtype)


def check_reduction(value: object, choices: tuple[str, ...] = REDUCTIONS) -> str:
    return check_choice("reduction", value, choices)


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """``"mean"``, ``"sum"`` or ``"none"`` (the values as they are)."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def check_class_weight(name: str, weight: object, num_classes: int | None = None,
                       ) -> torch.Tensor | None:
    """None, or a 1-D tensor/sequence of finite non-negative numbers, as a float64 tensor.

    With ``num_classes``, the length is checked too (otherwise at the call, when the logits
    say how many classes there are).
    """
    if weight is None:
        return None
    if isinstance(weight, torch.Tensor):
        if weight.is_complex() or weight.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {weight.dtype}")
        values = weight.detach()
    elif isinstance(weight, (list, tuple)):
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weight):
            raise TypeError(f"{name} must hold numbers, got {describe(weight)}")
        values = torch.tensor(weight, dtype=torch.float64)
    else:
        raise TypeError(f"{name} must be None, a 1-D tensor or a list of numbers, got "
                        f"{describe(weight)}")
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"{name} must be 1-D with one entry per class, got shape "
                         f"{tuple(values.shape)}")
    values = values.to(torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} must be finite, got {values.tolist()}")
    if bool((values < 0).any()):
        raise ValueError(f"{name} must be >= 0, got {values.tolist()}")
    if num_classes is not None:
        check_weight_length(name, values, num_classes)
    return values


def check_weight_length(name: str, weight: torch.Tensor | None, num_classes: int) -> None:
    if weight is not None and weight.numel() != num_classes:
        raise ValueError(f"{name} has {weight.numel()} entries, logits has {num_classes} "
                         "classes (dim 1); give one weight per class")


def check_logits(logits: object, *, min_dims: int, layout: str, name: str = "logits",
                 ) -> torch.Tensor:
    """A floating tensor of at least ``min_dims`` dims; integer logits are refused by name."""
    logits = check_tensor(name, logits)
    if logits.dim() < min_dims:
        raise ValueError(f"{name} must have shape {layout}, at least {min_dims} dims, got "
                         f"shape {tuple(logits.shape)}")
    if 0 in logits.shape:
        raise ValueError(f"{name} is empty: shape {tuple(logits.shape)}")
    return logits

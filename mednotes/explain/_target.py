"""What an attribution explains: one number per image, from the model's output.

For a classifier the output is ``(N, K)`` and the number is the logit of the ``target``
class. For a segmentation network the output is ``(N, K, *spatial)``; the number is the sum
of the ``target`` class's logits over a ``region`` of the image (all of it by default), the
usual way of asking "why does the network call *this* region a lesion?".
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._checks import check_tensor, describe, is_int


def check_model(model: object) -> nn.Module:
    """``model`` if it is an ``nn.Module`` (or any callable module-like object)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {describe(model)}")
    return model


def check_images(x: object) -> torch.Tensor:
    """A batch ``(N, C, *spatial)`` with one to three spatial dims."""
    x = check_tensor("x", x)
    if x.dim() not in (3, 4, 5):
        raise ValueError(f"x must be a batch (N, C, *spatial) with 1 to 3 spatial dims, got "
                         f"{x.dim()}D input of shape {tuple(x.shape)}; for one image use "
                         "x.unsqueeze(0)")
    if 0 in x.shape:
        raise ValueError(f"x is empty: shape {tuple(x.shape)}")
    return x


def target_indices(target: object, n: int, device: torch.device) -> torch.Tensor:
    """``target`` as ``(n,)`` int64 class indices: an int for every image, or one per image."""
    if is_int(target):
        return torch.full((n,), int(target), dtype=torch.long, device=device)
    if isinstance(target, (list, tuple)) and all(is_int(t) for t in target):
        target = torch.tensor([int(t) for t in target], dtype=torch.long)
    if not isinstance(target, torch.Tensor) or target.is_floating_point() \
            or target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"target must be a class index (int) or one index per image (an "
                        f"int64 tensor or a list of ints), got {describe(target)}")
    if target.dim() == 0:
        target = target.expand(n)
    if target.shape != (n,):
        raise ValueError(f"target must hold one class index per image, ({n},); got shape "
                         f"{tuple(target.shape)}")
    return target.to(device=device, dtype=torch.long)


def scores(output: object, target: torch.Tensor, region: torch.Tensor | None) -> torch.Tensor:
    """The number each image's attribution explains: ``(N,)``.

    Args:
        output: the model's output, ``(N, K)`` or ``(N, K, *spatial)``.
        target: ``(N,)`` class indices.
        region: None, or a mask ``(N, *spatial)`` or ``(*spatial)`` of the output's spatial
            size (bool or float weights) over which a segmentation logit is summed.
    """
    if not isinstance(output, torch.Tensor) or output.dim() < 2:
        raise ValueError(f"the model must return logits (N, K) or (N, K, *spatial), got "
                         f"{describe(output)}")
    n, classes = output.shape[:2]
    if target.shape[0] != n:
        raise ValueError(f"the model returned {n} outputs for {target.shape[0]} images")
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= classes:
        bad = low if low < 0 else high
        raise ValueError(f"target holds class {bad}, outside [0, {classes}) for the model's "
                         f"{classes} outputs")
    picked = output[torch.arange(n, device=output.device), target]  # (N, *spatial)
    if output.dim() == 2:
        if region is not None:
            raise ValueError("region applies to segmentation outputs (N, K, *spatial); this "
                             f"model returns classification logits of shape {tuple(output.shape)}")
        return picked
    if region is not None:
        picked = picked * region.to(picked.dtype)
    return picked.flatten(1).sum(1)


def check_region(region: object, x: torch.Tensor) -> torch.Tensor | None:
    """None, or a mask ``(N, *spatial)`` or ``(*spatial)`` on ``x``'s device."""
    if region is None:
        return None
    if not isinstance(region, torch.Tensor) or region.is_complex():
        raise TypeError(f"region must be None or a mask tensor (bool or float), got "
                        f"{describe(region)}")
    if region.device != x.device:
        raise ValueError(f"region is on {region.device}, x is on {x.device}; use one device")
    spatial = x.dim() - 2
    if region.dim() == spatial:
        region = region.expand(x.shape[0], *region.shape)
    if region.dim() != spatial + 1 or region.shape[0] != x.shape[0]:
        raise ValueError(f"region must be a mask (N, *spatial) or (*spatial) with {spatial} "
                         f"spatial dims for {x.shape[0]} images, got shape {tuple(region.shape)}")
    return region


def forward_scores(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                   region: torch.Tensor | None) -> torch.Tensor:
    """``scores(model(x), ...)``, with a region checked against the output's size."""
    output = model(x)
    if region is not None and isinstance(output, torch.Tensor) and output.dim() > 2 \
            and tuple(region.shape[1:]) != tuple(output.shape[2:]):
        raise ValueError(f"region has spatial shape {tuple(region.shape[1:])}, the model's "
                         f"output has {tuple(output.shape[2:])}")
    return scores(output, target, region)

"""Occlusion: cover part of the image and watch the score fall.

Zeiler and Fergus (2014) slid a grey square over the image and recorded the classifier's
output for every position. The attribution of a pixel is the mean drop of the score over
all windows that cover it: a model-agnostic answer (no gradients) to "which region does
the prediction need?", at the price of one forward pass per window position.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mednotes._checks import check_int, check_number, ntuple
from mednotes.explain._target import (
    check_images,
    check_model,
    check_region,
    forward_scores,
    target_indices,
)

__all__ = ["occlusion", "window_starts"]


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Where the windows along one axis start: every ``stride`` pixels from 0, until one
    reaches the end (the last may stick out and is cut at the border), as in captum.

    Example:
        >>> window_starts(10, 4, 3), window_starts(10, 4, 4)   # the last 4-window is cut to 2
        ([0, 3, 6], [0, 4, 8])
    """
    return [k * stride for k in range(math.ceil((size - window) / stride) + 1)]


def occlusion(model: nn.Module, x: torch.Tensor, target, window, *, stride=None,
              baseline: float | torch.Tensor = 0.0, region: torch.Tensor | None = None,
              batch_size: int = 64) -> torch.Tensor:
    """The mean drop of the ``target`` score when a window around each pixel is replaced.

    The window covers every channel; it slides over the spatial dims by ``stride``.
    Attributions are identical across channels and are returned with ``x``'s shape. The
    model is used in the mode it is in: call ``model.eval()`` first.

    Args:
        model: the network.
        x: a batch of images.
        target: the class to explain: an int, or one index per image.
        window: the window's size, an int or one int per spatial dim.
        stride: the step between windows (default: the window, so they tile the image);
            at most the window's size, so that every pixel is covered.
        baseline: what replaces the covered pixels: a number, or a tensor of ``x``'s shape
            or of one image.
        region: for a segmentation output, the mask of pixels whose logits are summed.
        batch_size: occluded images per forward pass.

    Shape:
        x ``(N, C, *spatial)`` -> ``(N, C, *spatial)``, float32 (float64 for float64 input).

    Explained in: Trust and interpretability.

    Tested against: ``captum.attr.Occlusion`` with a window over all channels, in 2D and 3D,
    including windows that do not tile the image.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 1))
        >>> with torch.no_grad():
        ...     _ = net[1].weight.zero_(); _ = net[1].weight[0, 5].fill_(1.0)  # only pixel 5
        >>> heat = occlusion(net, torch.ones(1, 1, 4, 4), 0, window=2)
        >>> heat[0, 0]
        tensor([[1., 1., 0., 0.],
                [1., 1., 0., 0.],
                [0., 0., 0., 0.],
                [0., 0., 0., 0.]])
    """
    model = check_model(model)
    x = check_images(x)
    spatial = x.shape[2:]
    windows = ntuple("window", window, len(spatial), 1)
    strides = windows if stride is None else ntuple("stride", stride, len(spatial), 1)
    for axis, (size, w, s) in enumerate(zip(spatial, windows, strides)):
        if w > size:
            raise ValueError(f"window {windows} is larger than the image {tuple(spatial)} "
                             f"along spatial dim {axis}")
        if s > w and w < size:
            raise ValueError(f"stride {strides} must not exceed window {windows} (spatial dim "
                             f"{axis}): pixels between windows would never be covered")
    batch_size = check_int("batch_size", batch_size, 1)
    if isinstance(baseline, torch.Tensor):
        if not baseline.is_floating_point() or baseline.device != x.device or \
                tuple(baseline.shape) not in (tuple(x.shape), tuple(x.shape[1:])):
            raise ValueError(f"baseline must be a number or a floating tensor on {x.device} "
                             f"with the shape of x {tuple(x.shape)} or of one image; got "
                             f"{baseline.dtype} {tuple(baseline.shape)} on {baseline.device}")
        fill = baseline.to(x.dtype).expand_as(x)
    else:
        fill = torch.full_like(x, check_number("baseline", baseline))
    n = x.shape[0]
    labels = target_indices(target, n, x.device)
    region = check_region(region, x)
    x = x.detach()
    grids = torch.meshgrid(*[torch.tensor(window_starts(size, w, s))
                             for size, w, s in zip(spatial, windows, strides)], indexing="ij")
    corners = torch.stack([g.flatten() for g in grids], 1).tolist()
    out_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    total = torch.zeros((n, *spatial), dtype=out_dtype, device=x.device)
    count = torch.zeros(spatial, dtype=out_dtype, device=x.device)
    per_pass = max(1, batch_size // n)
    with torch.no_grad():
        reference = forward_scores(model, x, labels, region).to(out_dtype)
        for first in range(0, len(corners), per_pass):
            chunk = corners[first:first + per_pass]
            masks = torch.zeros((len(chunk), *spatial), dtype=x.dtype, device=x.device)
            for m, corner in zip(masks, chunk):
                m[tuple(slice(c, c + w) for c, w in zip(corner, windows))] = 1
            keep = masks[:, None, None]  # (P, 1, 1, *spatial) against (N, C, *spatial)
            occluded = (x * (1 - keep) + fill * keep).flatten(0, 1)
            got = forward_scores(model, occluded, labels.repeat(len(chunk)),
                                 None if region is None else region.repeat(
                                     len(chunk), *([1] * (region.dim() - 1))))
            drop = reference - got.to(out_dtype).view(len(chunk), n)  # (P, N)
            masks = masks.to(out_dtype)
            total += torch.einsum("pn,p...->n...", drop, masks)
            count += masks.sum(0)
    return (total / count).unsqueeze(1).expand(x.shape).contiguous()

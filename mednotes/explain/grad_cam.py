"""Grad-CAM: which regions of a layer's feature maps the class score leans on.

Selvaraju et al. (2017) weight each channel ``k`` of a convolutional layer's output ``A`` by
the mean gradient of the score over the channel's map, add the weighted maps and keep the
positive part:

    w_k = mean_ij ∂S/∂A_k[i, j],    CAM = ReLU(Σ_k w_k A_k).

The map has the layer's resolution (coarse for deep layers) and is upsampled to the image.
Deep layers give class-specific but blurry maps; early layers sharp but less specific ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mednotes._amp import accumulation_dtype
from mednotes._checks import check_bool, check_choice, describe
from mednotes.explain._target import (
    check_images,
    check_model,
    check_region,
    forward_scores,
    target_indices,
)

__all__ = ["INTERPOLATIONS", "grad_cam"]

#: How the layer's map is brought to the image size: "linear" is bilinear in 2D and trilinear
#: in 3D; None keeps the layer's resolution.
INTERPOLATIONS = ("linear", "nearest", None)


def grad_cam(model: nn.Module, x: torch.Tensor, target, layer: nn.Module, *,
             region: torch.Tensor | None = None, relu: bool = True,
             interpolation: str | None = "linear") -> torch.Tensor:
    """The Grad-CAM map of ``layer`` for the ``target`` score, upsampled to the input size.

    The model is used in the mode it is in: call ``model.eval()`` first. If a later in-place
    operation (``ReLU(inplace=True)``) overwrites the layer's output, pick the module after it.

    Args:
        model: the network.
        x: a batch of images.
        target: the class to explain: an int, or one index per image.
        layer: a module of ``model`` whose output is a feature map ``(N, K, *spatial)``,
            typically the last convolutional block.
        region: for a segmentation output, the mask of pixels whose logits are summed.
        relu: keep only the positive part, as in the paper (False: the signed map).
        interpolation: ``"linear"`` (bilinear/trilinear, ``align_corners=False``),
            ``"nearest"`` or None (the layer's own resolution).

    Shape:
        x ``(N, C, *spatial)`` -> ``(N, 1, *spatial)`` (the layer's spatial size with
        ``interpolation=None``), float32 (float64 for a float64 model).

    Explained in: Trust and interpretability.

    Tested against: ``captum.attr.LayerGradCam`` followed by
    ``captum.attr.LayerAttribution.interpolate``, in 2D and 3D.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
        ...                     nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).eval()
        >>> cam = grad_cam(net, torch.randn(2, 1, 16, 16), target=1, layer=net[2])
        >>> cam.shape, bool((cam >= 0).all())
        (torch.Size([2, 1, 16, 16]), True)
    """
    model = check_model(model)
    x = check_images(x)
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be a module of model (an nn.Module), got {describe(layer)}")
    if not any(m is layer for m in model.modules()):
        raise ValueError(f"layer {type(layer).__name__} is not a module of model; pass the "
                         "layer object itself, e.g. model.encoder[2]")
    relu = check_bool("relu", relu)
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    labels = target_indices(target, x.shape[0], x.device)
    region = check_region(region, x)
    captured: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        captured.append(output)

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)  # puts the layer in the graph
            score = forward_scores(model, leaf, labels, region)
            if len(captured) != 1:
                raise ValueError(f"layer ran {len(captured)} times in one forward pass; "
                                 "Grad-CAM needs a layer that runs exactly once")
            features = captured[0]
            if not isinstance(features, torch.Tensor) or features.dim() < 3:
                raise ValueError(f"layer must output feature maps (N, K, *spatial); "
                                 f"{type(layer).__name__} gave {describe(features)}")
            (grads,) = torch.autograd.grad(score.sum(), features)
    finally:
        handle.remove()
    dtype = accumulation_dtype(features.dtype)
    features, grads = features.detach().to(dtype), grads.to(dtype)
    weights = grads.mean(tuple(range(2, grads.dim())), keepdim=True)
    cam = (weights * features).sum(1, keepdim=True)
    if relu:
        cam = F.relu(cam)
    if interpolation is None or tuple(cam.shape[2:]) == tuple(x.shape[2:]):
        return cam
    if cam.dim() != x.dim():
        raise ValueError(f"layer outputs {cam.dim() - 2} spatial dims, x has {x.dim() - 2}; "
                         "use interpolation=None")
    mode = "nearest" if interpolation == "nearest" else \
        {3: "linear", 4: "bilinear", 5: "trilinear"}[cam.dim()]
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(cam, size=x.shape[2:], mode=mode, **kwargs)

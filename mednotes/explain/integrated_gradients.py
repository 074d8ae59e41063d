"""Integrated Gradients: the score's change from a baseline image, shared out among the pixels.

Sundararajan et al. (2017) average the gradient along the straight path from a baseline
``x'`` (a black image, say) to the image ``x`` and multiply by the difference:

    IG_i(x) = (x_i - x'_i) ∫₀¹ ∂S/∂x_i (x' + α (x - x')) dα.

By the fundamental theorem of calculus the attributions add up to ``S(x) - S(x')``
(*completeness*), up to the error of the quadrature rule that replaces the integral.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mednotes._checks import check_bool, check_choice, check_int, check_number
from mednotes.explain._target import (
    check_images,
    check_model,
    check_region,
    forward_scores,
    target_indices,
)

__all__ = ["METHODS", "integrated_gradients", "path_points"]

#: The quadrature rules, with captum's names.
METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
           "riemann_middle")


def path_points(steps: int, method: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Where along the path the gradient is taken (``alphas`` in [0, 1]) and the weights that
    sum the gradients into the integral.

    Gauss-Legendre places ``steps`` points so that polynomials of degree ``2 steps - 1`` are
    integrated exactly; the Riemann rules use equal steps. The values are captum's, in
    float64 (the weights are cast to the images' dtype when they are used). Like captum's,
    the trapezoid rule keeps steps of ``1 / steps`` and halves the two ends, so its weights
    add up to ``1 - 1 / steps``; prefer the default.

    Example:
        >>> alphas, weights = path_points(3, "riemann_trapezoid")
        >>> alphas.tolist(), weights.tolist()
        ([0.0, 0.5, 1.0], [0.16666666666666666, 0.3333333333333333, 0.16666666666666666])
    """
    method = check_choice("method", method, METHODS)
    steps = check_int("steps", steps, 1 if method == "gausslegendre" else 2)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        alphas, weights = 0.5 * (nodes + 1), 0.5 * weights
        return torch.from_numpy(alphas), torch.from_numpy(weights)
    weights = torch.full((steps,), 1 / steps, dtype=torch.float64)
    if method == "riemann_trapezoid":
        weights[0] /= 2
        weights[-1] /= 2
        alphas = torch.linspace(0, 1, steps, dtype=torch.float64)
    elif method == "riemann_left":
        alphas = torch.linspace(0, 1 - 1 / steps, steps, dtype=torch.float64)
    elif method == "riemann_middle":
        alphas = torch.linspace(1 / (2 * steps), 1 - 1 / (2 * steps), steps,
                                dtype=torch.float64)
    else:
        alphas = torch.linspace(1 / steps, 1, steps, dtype=torch.float64)
    return alphas, weights


def _baseline(baseline: object, x: torch.Tensor) -> torch.Tensor:
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, torch.Tensor):
        if not baseline.is_floating_point():
            raise TypeError(f"baseline must be a floating-point tensor, got {baseline.dtype}")
        if baseline.device != x.device:
            raise ValueError(f"baseline is on {baseline.device}, x is on {x.device}; use one "
                             "device")
        if tuple(baseline.shape) not in (tuple(x.shape), tuple(x.shape[1:])):
            raise ValueError(f"baseline must have the shape of x {tuple(x.shape)} or of one "
                             f"image {tuple(x.shape[1:])}, got {tuple(baseline.shape)}")
        return baseline.to(x.dtype).expand_as(x)
    return torch.full_like(x, check_number("baseline", baseline))


def integrated_gradients(model: nn.Module, x: torch.Tensor, target, *,
                         baseline: torch.Tensor | float | None = None, steps: int = 50,
                         method: str = "gausslegendre", region: torch.Tensor | None = None,
                         batch_size: int | None = None, return_delta: bool = False):
    """Integrated Gradients of the ``target`` score, from ``baseline`` to ``x``.

    The ``steps`` images along the path go through the model in batches of ``batch_size``
    images (default: all at once). The model is used in the mode it is in: call
    ``model.eval()`` first.

    Args:
        model: the network.
        x: a batch of images.
        target: the class to explain: an int, or one index per image.
        baseline: the reference image: None (zeros), a number, or a tensor with the shape of
            ``x`` or of one image.
        steps: points on the path.
        method: the quadrature rule, one of ``METHODS`` (captum's names and default).
        region: for a segmentation output, the mask of pixels whose logits are summed.
        batch_size: images per forward pass (None: every step of every image at once).
        return_delta: also return the completeness error per image,
            ``Σ IG - (S(x) - S(x'))``.

    Returns:
        The attributions ``(N, C, *spatial)``; with ``return_delta``, ``(attributions, delta)``
        with ``delta`` of shape ``(N,)``.

    Explained in: Trust and interpretability.

    Tested against: ``captum.attr.IntegratedGradients`` (every method, 2D and 3D, with
    baselines), and completeness on a network whose score is a polynomial.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
        >>> with torch.no_grad():
        ...     _ = net[1].weight.fill_(2.0); _ = net[1].bias.zero_()
        >>> ig, delta = integrated_gradients(net, torch.ones(1, 1, 2, 2), 0, return_delta=True)
        >>> ig.flatten().tolist(), abs(delta.item()) < 1e-5      # linear: IG = w * (x - x')
        ([2.0, 2.0, 2.0, 2.0], True)
    """
    model = check_model(model)
    x = check_images(x)
    alphas, weights = path_points(steps, method)
    steps = len(alphas)
    return_delta = check_bool("return_delta", return_delta)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1)
    n = x.shape[0]
    labels = target_indices(target, n, x.device)
    region = check_region(region, x)
    start = _baseline(baseline, x).detach()
    x = x.detach()
    per_pass = steps if batch_size is None else max(1, batch_size // n)
    total = torch.zeros_like(x)
    weights = weights.to(device=x.device, dtype=x.dtype)
    for first in range(0, steps, per_pass):
        chunk = range(first, min(first + per_pass, steps))
        scaled = torch.cat([start + float(alphas[a]) * (x - start) for a in chunk])
        scaled.requires_grad_(True)
        with torch.enable_grad():
            score = forward_scores(model, scaled, labels.repeat(len(chunk)),
                                   None if region is None else region.repeat(
                                       len(chunk), *([1] * (region.dim() - 1))))
            (grad,) = torch.autograd.grad(score.sum(), scaled)
        grad = grad.unflatten(0, (len(chunk), n))
        total += (grad * weights[first:first + len(chunk)].view(-1, *[1] * x.dim())).sum(0)
    attributions = total * (x - start)
    if not return_delta:
        return attributions
    with torch.no_grad():
        both = forward_scores(model, torch.cat([x, start]), labels.repeat(2),
                              None if region is None else region.repeat(
                                  2, *([1] * (region.dim() - 1))))
    delta = attributions.flatten(1).sum(1) - (both[:n] - both[n:]).to(attributions.dtype)
    return attributions, delta

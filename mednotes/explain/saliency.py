"""Saliency: how much a small change of each pixel would move the class score.

The simplest attribution (Simonyan et al., 2014): the gradient of the explained score with
respect to the input image, ``∂S_c / ∂x``, usually shown as its absolute value. It is cheap
(one backward pass) and noisy: it says where the score is *sensitive*, not what the score
is made of.
"""

from __future__ import annotations

import torch
from torch import nn

from mednotes._checks import check_bool
from mednotes.explain._target import (
    check_images,
    check_model,
    check_region,
    forward_scores,
    target_indices,
)

__all__ = ["saliency"]


def saliency(model: nn.Module, x: torch.Tensor, target, *, region: torch.Tensor | None = None,
             absolute: bool = True, create_graph: bool = False) -> torch.Tensor:
    """The gradient of the ``target`` score with respect to every input pixel.

    The score is the ``target`` logit of a classifier, or for a segmentation network the sum
    of the ``target`` class's logits over ``region``. The model is used in the mode it is in:
    call ``model.eval()`` first, so that batch norm does not mix the images of the batch.

    Args:
        model: the network.
        x: a batch of images.
        target: the class to explain: an int, or one index per image.
        region: for a segmentation output, a mask ``(N, *spatial)`` or ``(*spatial)`` of the
            pixels whose logits are summed (default: the whole image).
        absolute: return ``|∂S/∂x|`` (the usual saliency map) instead of the signed gradient.
        create_graph: keep the graph of the gradient, so that a loss on the saliency map can
            be backpropagated to the weights (input-gradient penalties).

    Shape:
        x ``(N, C, *spatial)`` -> ``(N, C, *spatial)``, in ``x``'s dtype.

    Explained in: Trust and interpretability.

    Tested against: ``captum.attr.Saliency`` (2D and 3D, ``abs=True`` and ``False``), and the
    gradient of the map itself against finite differences (``torch.autograd.gradcheck``).

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> with torch.no_grad():
        ...     _ = net[1].weight.copy_(torch.tensor([[1., -2., 0., 3.], [0., 0., 0., 0.]]))
        >>> saliency(net, torch.zeros(1, 1, 2, 2), target=0).flatten().tolist()
        [1.0, 2.0, 0.0, 3.0]
        >>> saliency(net, torch.zeros(1, 1, 2, 2), target=0, absolute=False).flatten().tolist()
        [1.0, -2.0, 0.0, 3.0]
    """
    model = check_model(model)
    x = check_images(x)
    absolute = check_bool("absolute", absolute)
    create_graph = check_bool("create_graph", create_graph)
    labels = target_indices(target, x.shape[0], x.device)
    region = check_region(region, x)
    leaf = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
    with torch.enable_grad():
        score = forward_scores(model, leaf, labels, region)
        (grad,) = torch.autograd.grad(score.sum(), leaf, create_graph=create_graph)
    if not create_graph:
        grad = grad.detach()
    return grad.abs() if absolute else grad

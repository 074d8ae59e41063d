"""Explaining and checking a network's output: attributions, calibration and uncertainty.

- **Where does the score come from?** :func:`saliency` (the input gradient),
  :func:`integrated_gradients` (gradients along a path from a baseline image),
  :func:`grad_cam` (a layer's feature maps weighted by their gradients) and :func:`occlusion`
  (the score's drop when a window is covered). Each explains one number per image: a
  classifier's logit, or a segmentation network's logits of one class summed over a region.
- **Can the probabilities be believed?** :func:`temperature_scaling` fits one temperature on
  validation logits; :func:`apply_temperature` uses it. The calibration error itself is
  :func:`mednotes.metrics.expected_calibration_error`.
- **How sure is the network?** :func:`mc_dropout_predict` and :func:`ensemble_predict`
  summarise several predictions as an :class:`Uncertainty` (mean, predictive entropy,
  mutual information, variance), and :func:`error_auroc` measures whether the uncertain
  predictions are the wrong ones.

Every attribution is tested against captum's implementation; captum is not needed to run
them. All of them work in 2D and 3D, on any device and under ``torch.autocast``.

Explained in: Trust and interpretability.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from mednotes.explain import grad_cam, saliency
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
    ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    >>> x = torch.randn(3, 1, 16, 16)
    >>> saliency(net, x, target=1).shape, grad_cam(net, x, 1, layer=net[1]).shape
    (torch.Size([3, 1, 16, 16]), torch.Size([3, 1, 16, 16]))
"""

from mednotes.explain.grad_cam import grad_cam
from mednotes.explain.integrated_gradients import integrated_gradients, path_points
from mednotes.explain.occlusion import occlusion
from mednotes.explain.saliency import saliency
from mednotes.explain.temperature_scaling import (
    apply_temperature,
    temperature_nll,
    temperature_scaling,
)
from mednotes.explain.uncertainty import (
    Uncertainty,
    ensemble_predict,
    error_auroc,
    mc_dropout_predict,
    summarise_samples,
)

__all__ = [
    "Uncertainty",
    "apply_temperature",
    "ensemble_predict",
    "error_auroc",
    "grad_cam",
    "integrated_gradients",
    "mc_dropout_predict",
    "occlusion",
    "path_points",
    "saliency",
    "summarise_samples",
    "temperature_nll",
    "temperature_scaling",
]

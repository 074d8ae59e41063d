"""Pooling and what it costs in aliasing: the ops, their anti-aliased versions, the measures.

- Classic pooling (:mod:`mednotes.pooling.classic`): :func:`max_pool2d`, :func:`max_pool3d`,
  :func:`avg_pool2d`, :func:`avg_pool3d` and their modules, from sliding-window views with
  ``torch.nn.functional``'s exact semantics (padding, dilation, ``ceil_mode``, divisors).
- Anti-aliased pooling (:mod:`mednotes.pooling.blur`): :func:`blur_pool2d`,
  :func:`max_blur_pool2d`, their 3-D versions and modules (Zhang 2019, kornia's conventions),
  and the :func:`binomial_kernel` they blur with.
- Measures (:mod:`mednotes.pooling.measures`): :func:`spectrum`, :func:`frequency_axis` and
  :func:`radial_profile` to see aliasing; :func:`shift_equivariance_error` of an op and
  :func:`shift_consistency` of a classifier to measure it; :func:`subpixel_roll`, the
  fractional ``torch.roll`` that an ideally anti-aliased output follows.
- ``PADDING_MODES``, what BlurPool's ``padding_mode`` may put beyond the border, is the
  same tuple as :data:`mednotes.layers.conv.PADDING_MODES` (one definition, imported).

Under ``torch.autocast`` every op returns the dtype that its torch (or kornia) counterpart
returns in the same context; with CPU autocast to bfloat16 (CUDA and MPS autocast run 3-D
pooling in the input's dtype too, and convolutions in their lower precision):

=============================================  =============  ==============  =============
op, under ``torch.autocast("cpu")``            float32 input  bfloat16 input  float64 input
=============================================  =============  ==============  =============
``max_pool2d``, ``avg_pool2d``                 float32        bfloat16        float64
``max_pool3d``, ``avg_pool3d``                 float32        float32         float64
``blur_pool2d/3d``, ``max_blur_pool2d/3d``     bfloat16       bfloat16        float64
=============================================  =============  ==============  =============

Half-precision inputs are pooled in float32 and rounded once, as torch's kernels do.

Explained in: Pooling, downsampling and aliasing.

Example:
    >>> import torch
    >>> from mednotes.pooling import max_blur_pool2d, max_pool2d
    >>> x = torch.zeros(1, 1, 6, 6); x[..., 2, 2] = 1.0
    >>> max_pool2d(x, 2).flatten().tolist()  # the spike lands in one output pixel...
    [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    >>> max_blur_pool2d(x).flatten().tolist()  # ...or is spread over its neighbours
    [0.0625, 0.1875, 0.0, 0.1875, 0.5625, 0.0, 0.0, 0.0, 0.0]
"""

from mednotes.layers.conv import PADDING_MODES
from mednotes.pooling.blur import (
    BlurPool2d,
    BlurPool3d,
    MaxBlurPool2d,
    MaxBlurPool3d,
    binomial_kernel,
    blur_pool2d,
    blur_pool3d,
    max_blur_pool2d,
    max_blur_pool3d,
)
from mednotes.pooling.classic import (
    AvgPool2d,
    AvgPool3d,
    MaxPool2d,
    MaxPool3d,
    avg_pool2d,
    avg_pool3d,
    max_pool2d,
    max_pool3d,
)
from mednotes.pooling.measures import (
    SHIFT_MODES,
    frequency_axis,
    radial_profile,
    shift_consistency,
    shift_equivariance_error,
    spectrum,
    subpixel_roll,
)

__all__ = [
    "PADDING_MODES",
    "SHIFT_MODES",
    "AvgPool2d",
    "AvgPool3d",
    "BlurPool2d",
    "BlurPool3d",
    "MaxBlurPool2d",
    "MaxBlurPool3d",
    "MaxPool2d",
    "MaxPool3d",
    "avg_pool2d",
    "avg_pool3d",
    "binomial_kernel",
    "blur_pool2d",
    "blur_pool3d",
    "frequency_axis",
    "max_blur_pool2d",
    "max_blur_pool3d",
    "max_pool2d",
    "max_pool3d",
    "radial_profile",
    "shift_consistency",
    "shift_equivariance_error",
    "spectrum",
    "subpixel_roll",
]

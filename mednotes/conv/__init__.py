"""Convolution, two ways of looking at it, and the arithmetic around it.

- Signal view (``mednotes.conv.signal``): :func:`correlate` and :func:`convolve` of one
  image with one kernel, numpy or torch, with scipy's ``mode="full"|"same"|"valid"``.
- Network view (``mednotes.conv.network``): :func:`conv1d`, :func:`conv2d`,
  :func:`conv3d` and :func:`convnd` with torch's semantics (batches, channels, stride,
  padding, dilation, groups), each computed by ``method="direct"``, ``"im2col"``, ``"fft"``,
  ``"native"`` or ``"auto"``.
- Arithmetic (``mednotes.conv.arithmetic``): :func:`conv_output_size` and
  :func:`receptive_field`.

Explained in: Convolution and cross-correlation.

Example:
    >>> import numpy as np
    >>> from mednotes.conv import convolve, correlate
    >>> f, g = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0])
    >>> convolve(f, g, mode="full"), correlate(f, g[::-1], mode="full")
    (array([0., 1., 2., 3.]), array([0., 1., 2., 3.]))
"""

from mednotes.conv.arithmetic import ReceptiveField, conv_output_size, receptive_field
from mednotes.conv.network import METHODS, choose_method, conv1d, conv2d, conv3d, convnd
from mednotes.conv.signal import MODES, convolve, correlate

__all__ = [
    "METHODS",
    "MODES",
    "ReceptiveField",
    "choose_method",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_output_size",
    "convnd",
    "convolve",
    "correlate",
    "receptive_field",
]

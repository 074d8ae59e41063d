"""Checks for the convolution chapter's practices: size arithmetic and correlation by hand.

Used by ``exercises/01_conv_arithmetic.ipynb`` and ``exercises/02_correlation_loops.ipynb``;
the chapter is ``book/principles/01_convolution``.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from mednotes.conv import conv_output_size, convolve, correlate, receptive_field
from mednotes.course.compare import Check, refined


def _torch_parameter_count(c_in: int, c_out: int, k: int, bias: bool, dims: int) -> int:
    """The parameters of torch's own convolution layer, counted rather than computed."""
    layer = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims](c_in, c_out, k, bias=bias)
    return sum(p.numel() for p in layer.parameters())


#: The first hint of each check: the idea, before the formula or the step.
IDEAS = {
    "conv_output_size": (
        "Count the positions the kernel can take: padding widens the input, dilation "
        "spreads the kernel out, and the stride skips positions."
    ),
    "conv_params": (
        "A convolution layer learns one kernel per pair of input and output channels, "
        "plus an optional bias per output channel."
    ),
    "conv_macs": (
        "Count the output values first, then the multiply-adds each of them needs."
    ),
    "receptive_field": (
        "The receptive field grows with each layer, and a layer after a stride grows it "
        "in bigger steps."
    ),
    "correlate_loops": (
        "Slide the kernel over the image without flipping it and, at each position, add "
        "up the products of the overlapping values."
    ),
    "convolve_loops": (
        "Convolution and cross-correlation differ in one thing only: what happens to "
        "the kernel first."
    ),
    "correlate_same": (
        "'same' keeps the input's size: give the image a border so that the kernel fits "
        "at every pixel."
    ),
}

#: What the feedback calls each test input of the function exercises.
CASE_NAMES = {
    "conv_params": (
        "the 2-D first-layer case",
        "the case without bias",
        "the 3-D case",
        "the 1×1 kernel case",
        "the 1-D case",
    ),
    "correlate_loops": (
        "the 3×3 kernel case",
        "the 2×4 kernel case (not square)",
        "the 5×1 kernel case (one column)",
        "the case where the kernel is as large as the image",
    ),
    "convolve_loops": (
        "the 3×3 kernel case",
        "the 2×4 kernel case (not square)",
        "the 5×1 kernel case (one column)",
        "the case where the kernel is as large as the image",
    ),
    "correlate_same": (
        "the 3×3 kernel case",
        "the 5×5 kernel case",
        "the 1×1 kernel case",
    ),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    rng = np.random.default_rng(2024)
    pairs = [(rng.standard_normal((h, w)), rng.standard_normal((kh, kw)))
             for h, w, kh, kw in [(6, 7, 3, 3), (9, 5, 2, 4), (8, 8, 5, 1), (4, 4, 4, 4)]]
    odd_pairs = [(rng.standard_normal((h, w)), rng.standard_normal((k, k)))
                 for h, w, k in [(6, 7, 3), (9, 5, 5), (4, 6, 1)]]
    size_cases = ((128, 3, 1, 1, 1), (128, 3, 2, 1, 1), (127, 7, 2, 3, 1), (64, 3, 1, 2, 2),
                  (32, 5, 3, 0, 1), (10, 4, 1, 0, 3), (224, 7, 2, 3, 1))
    return refined({
        "conv_output_size": Check(
            reference=lambda n, k, s, p, d: conv_output_size(n, k, stride=s, padding=p, dilation=d),
            cases=size_cases,
            hint="out = floor((n + 2p − d·(k − 1) − 1) / s) + 1: the dilated kernel spans "
                 "d·(k − 1) + 1 pixels, and // in Python is the floor.",
        ),
        "conv_params": Check(
            reference=_torch_parameter_count,
            cases=((3, 64, 3, True, 2), (64, 64, 3, False, 2), (1, 8, 5, True, 3),
                   (16, 32, 1, True, 2), (4, 4, 7, True, 1)),
            hint="Each of the c_out kernels has c_in × k^dims weights, plus one bias per "
                 "output channel when bias=True.",
        ),
        "conv_macs": Check(
            reference=lambda: 128 * 128 * 64 * 64 * 3 * 3,
            hint="Each output value is a sum over a c_in × k × k block of products, and the "
                 "layer computes c_out × H_out × W_out output values.",
        ),
        "receptive_field": Check(
            reference=lambda: receptive_field(
                [(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)])[-1].size,
            hint="Go layer by layer, pooling included (k = 2, s = 2): r grows by (k − 1) × "
                 "the jump so far, and only then is the jump multiplied by the layer's stride, "
                 "so the stride widens the steps of the layers after it, not its own.",
        ),
        "correlate_loops": Check(
            reference=lambda f, g: correlate(f, g, mode="valid"), cases=tuple(pairs),
            hint="out[i, j] = sum over u, v of g[u, v] * f[i + u, j + v], for i in "
                 "range(H − kh + 1) and j in range(W − kw + 1).",
        ),
        "convolve_loops": Check(
            reference=lambda f, g: convolve(f, g, mode="valid"), cases=tuple(pairs),
            hint="Convolution is cross-correlation with the kernel flipped in both axes: "
                 "g[::-1, ::-1] (or np.flip(g)).",
        ),
        "correlate_same": Check(
            reference=lambda f, g: correlate(f, g, mode="same"), cases=tuple(odd_pairs),
            hint="Pad the image with k // 2 zeros on every side (np.pad), then do the valid "
                 "cross-correlation: the output then has the input's size.",
        ),
    }, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "IDEAS", "checks"]

"""Checks for the convolution chapter's practices: size arithmetic, correlation by hand, and
the backward pass of a convolution.

Used by ``exercises/01_conv_arithmetic.ipynb``, ``exercises/02_correlation_loops.ipynb`` and
``exercises/16_conv_backward.ipynb``; the chapter is ``book/principles/01_convolution``. The
gradients of practice 16 are autograd's, through ``torch.nn.functional.conv1d`` and
``conv2d``, computed when a check runs, never written down.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mednotes.conv import conv_output_size, convolve, correlate, receptive_field
from mednotes.course.compare import Check, refined

#: The 1-D example of practice 16, to work by hand: y = x ⋆ w (valid), and a given dL/dy.
CONV1D_INPUT = (1.0, -1.0, 3.0, 1.0, -2.0)
CONV1D_WEIGHT = (2.0, -1.0, 3.0)
CONV1D_GRAD_OUT = (-3.0, 4.0, -1.0)


# ------------------------------------------------------------------------ the backward pass


def _conv_gradients(x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor,
                    stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dx and dL/dw by autograd for L with dL/dy = ``grad_out``, y = conv(x, weight)."""
    conv = {3: F.conv1d, 4: F.conv2d}[x.dim()]
    x = x.detach().clone().requires_grad_(True)
    weight = weight.detach().clone().requires_grad_(True)
    grad_x, grad_w = torch.autograd.grad(conv(x, weight, stride=stride), (x, weight), grad_out)
    return grad_x.detach(), grad_w.detach()


def _by_hand_1d() -> tuple[torch.Tensor, torch.Tensor]:
    """(dL/dx, dL/dw) of the 1-D example, each a 1-D float64 tensor."""
    x, w, g = (torch.tensor(v, dtype=torch.float64)[None, None]
               for v in (CONV1D_INPUT, CONV1D_WEIGHT, CONV1D_GRAD_OUT))
    grad_x, grad_w = _conv_gradients(x, w, g)
    return grad_x[0, 0], grad_w[0, 0]


def _input_grad(grad_out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """dL/dx of a stride-1 unpadded conv2d, the input's size read off the shapes."""
    n, _, h_out, w_out = grad_out.shape
    k = weight.shape[-1]
    x = torch.zeros(n, weight.shape[1], h_out + k - 1, w_out + k - 1, dtype=grad_out.dtype)
    return _conv_gradients(x, weight, grad_out)[0]


def _weight_grad(x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """dL/dw of a stride-1 unpadded conv2d, summed over the batch, the kernel read off."""
    k = x.shape[-1] - grad_out.shape[-1] + 1
    weight = torch.zeros(grad_out.shape[1], x.shape[1], k, k, dtype=x.dtype)
    return _conv_gradients(x, weight, grad_out)[1]


def _strided_input_grad(grad_out: torch.Tensor, weight: torch.Tensor, stride: int,
                        size: tuple[int, int]) -> torch.Tensor:
    """dL/dx of an unpadded conv2d with ``stride``, for an input of spatial ``size``."""
    x = torch.zeros(grad_out.shape[0], weight.shape[1], *size, dtype=grad_out.dtype)
    return _conv_gradients(x, weight, grad_out, stride)[0]


def _gradient_cases() -> dict[str, tuple[tuple, ...]]:
    """Test inputs of the 2-D gradient exercises, by check name: float64, seeded."""
    g = torch.Generator().manual_seed(16)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    # (N, C_in, H, W, C_out, k): one channel; the 3-channel 5×7 case; more output than
    # input channels with a batch; a 5×5 kernel (C_in = C_out, where swapping them still
    # runs); a 1×1 kernel; an even 2×2 kernel
    shapes = [(1, 1, 6, 7, 1, 3), (1, 3, 5, 7, 2, 3), (2, 2, 6, 6, 4, 3), (1, 3, 8, 8, 3, 5),
              (2, 4, 5, 6, 3, 1), (1, 2, 5, 5, 2, 2)]
    input_cases = tuple((randn(n, c_out, h - k + 1, w - k + 1), randn(c_out, c_in, k, k))
                        for n, c_in, h, w, c_out, k in shapes)
    weight_shapes = [(1, 1, 6, 7, 1, 3), (1, 3, 5, 7, 2, 3), (3, 2, 6, 6, 4, 3),
                     (4, 3, 7, 7, 3, 3), (2, 2, 5, 5, 2, 5)]
    weight_cases = tuple((randn(n, c_in, h, w), randn(n, c_out, h - k + 1, w - k + 1))
                         for n, c_in, h, w, c_out, k in weight_shapes)
    # (N, C_in, H, W, C_out, k, stride): every input pixel reached; a row and a column left
    # over at the end; stride 3; a 2×2 kernel at stride 2; stride 1
    strided = []
    for n, c_in, h, w, c_out, k, s in [(1, 1, 7, 7, 1, 3, 2), (1, 3, 8, 10, 2, 3, 2),
                                       (2, 2, 10, 10, 3, 3, 3), (1, 2, 6, 8, 3, 2, 2),
                                       (1, 2, 6, 7, 2, 3, 1)]:
        h_out, w_out = (h - k) // s + 1, (w - k) // s + 1
        strided.append((randn(n, c_out, h_out, w_out), randn(c_out, c_in, k, k), s, (h, w)))
    return {"conv2d_input_grad": input_cases,
            "conv2d_weight_grad": weight_cases,
            "conv2d_input_grad_strided": tuple(strided)}


def _backward_checks() -> dict[str, Check]:
    """The checks of practice 16, the backward pass of a convolution."""
    cases = _gradient_cases()
    return {
        "conv1d_input_grad_by_hand": Check(
            reference=lambda: _by_hand_1d()[0],
            hint="dL/dx[j] = Σ_i dL/dy[i] · w[j − i], over the i for which j − i is a tap of "
                 "the kernel: slide the kernel, flipped, along dL/dy padded with k − 1 zeros "
                 "on each side (a full convolution), so the result is as long as x.",
        ),
        "conv1d_weight_grad_by_hand": Check(
            reference=lambda: _by_hand_1d()[1],
            hint="dL/dw[u] = Σ_i dL/dy[i] · x[i + u]: a valid cross-correlation of x with "
                 "dL/dy as the kernel, no flip; the result is as long as w.",
        ),
        "conv2d_input_grad": Check(
            reference=_input_grad, cases=cases["conv2d_input_grad"],
            hint="dL/dx[n, c] = Σ_o (grad_out[n, o] full-convolved with weight[o, c]): flip "
                 "each kernel in both spatial axes, swap the weight's two channel axes (its "
                 "output channels become the ones summed over), and cross-correlate grad_out "
                 "with that after padding it with k − 1 zeros on every side.",
        ),
        "conv2d_weight_grad": Check(
            reference=_weight_grad, cases=cases["conv2d_weight_grad"],
            hint="dL/dw[o, c, u, v] = Σ_n Σ_i,j grad_out[n, o, i, j] · x[n, c, i + u, j + v]: "
                 "for each offset (u, v), take the window of x that the tap saw and sum its "
                 "product with grad_out over the batch and the positions (torch.einsum).",
        ),
        "conv2d_input_grad_strided": Check(
            reference=_strided_input_grad, cases=cases["conv2d_input_grad_strided"],
            hint="Put grad_out on a grid with stride − 1 zeros between its rows and columns "
                 "(each output saw the input stride pixels after the previous one), take the "
                 "stride-1 input gradient of that, then pad it with zeros at the end up to "
                 "size: the rows and columns no window reached get no gradient.",
        ),
    }


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
    "conv1d_input_grad_by_hand": (
        "Each x[j] took part in several outputs y[i], once for every kernel tap that "
        "touched it: the chain rule adds up what each of those outputs passes back."
    ),
    "conv1d_weight_grad_by_hand": (
        "A weight is used at every position of the sliding window: its gradient adds up, "
        "over all outputs, dL/dy times the input value that the weight multiplied there."
    ),
    "conv2d_input_grad": (
        "The 1-D rule carries over axis by axis: a full convolution of grad_out with the "
        "kernels; with channels, each input channel collects from every output channel."
    ),
    "conv2d_weight_grad": (
        "As in 1-D, the gradient of a weight sums over everything it was applied to: every "
        "position and every image of the batch."
    ),
    "conv2d_input_grad_strided": (
        "With a stride, consecutive outputs saw windows several pixels apart: dL/dy must "
        "be put back where its window stood before the stride-1 rule applies."
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
    "conv2d_input_grad": (
        "the single-channel 3×3 kernel case",
        "the 3-channel 5×7 case",
        "the case with 2 input and 4 output channels and a batch of 2",
        "the 5×5 kernel case",
        "the 1×1 kernel case",
        "the 2×2 kernel case (even size)",
    ),
    "conv2d_weight_grad": (
        "the single-channel case",
        "the 3-channel 5×7 case",
        "the batch-of-3 case",
        "the batch-of-4 case with 3 channels in and out",
        "the 5×5 kernel case",
    ),
    "conv2d_input_grad_strided": (
        "the stride-2 case",
        "the stride-2 case with a row and a column left over",
        "the stride-3 case",
        "the stride-2 case with a 2×2 kernel",
        "the stride-1 case",
    ),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return refined({**_arithmetic_checks(), **_backward_checks()}, ideas=IDEAS,
                   names=CASE_NAMES)


def _arithmetic_checks() -> dict[str, Check]:
    """The checks of practices 01 and 02: sizes, counts, and correlation by hand."""
    rng = np.random.default_rng(2024)
    pairs = [(rng.standard_normal((h, w)), rng.standard_normal((kh, kw)))
             for h, w, kh, kw in [(6, 7, 3, 3), (9, 5, 2, 4), (8, 8, 5, 1), (4, 4, 4, 4)]]
    odd_pairs = [(rng.standard_normal((h, w)), rng.standard_normal((k, k)))
                 for h, w, k in [(6, 7, 3), (9, 5, 5), (4, 6, 1)]]
    size_cases = ((128, 3, 1, 1, 1), (128, 3, 2, 1, 1), (127, 7, 2, 3, 1), (64, 3, 1, 2, 2),
                  (32, 5, 3, 0, 1), (10, 4, 1, 0, 3), (224, 7, 2, 3, 1))
    return {
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
    }


__all__ = ["CASE_NAMES", "CONV1D_GRAD_OUT", "CONV1D_INPUT", "CONV1D_WEIGHT", "IDEAS", "checks"]

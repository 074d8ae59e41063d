"""The backward-pass practice's checks (practice 16): the references are autograd's, answers
written independently of them pass, torch's own transposed convolution among them, and the
plausible mistakes of each exercise fail with a verdict, never a traceback.

The generic tests in test_course.py (perturbed answers, stubs, no answer given away, the
student version) run over these checks too; this file adds the mistakes that are specific to
the gradient of a convolution: a missing flip, a "valid" correlation where a "full" one is
due, the channel axes left unswapped, the wrong axis summed, the batch sum forgotten, and the
padding off by one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mednotes.course import CHECKS, check
from mednotes.course.checks_convolution import (
    CONV1D_GRAD_OUT,
    CONV1D_INPUT,
    CONV1D_WEIGHT,
)

BACKWARD_CHECKS = ("conv1d_input_grad_by_hand", "conv1d_weight_grad_by_hand",
                   "conv2d_input_grad", "conv2d_weight_grad", "conv2d_input_grad_strided")

X, W, G = (np.array(v) for v in (CONV1D_INPUT, CONV1D_WEIGHT, CONV1D_GRAD_OUT))


def test_every_backward_check_is_registered():
    assert set(BACKWARD_CHECKS) <= set(CHECKS)


def test_the_references_are_autograd_s_and_not_a_literal():
    """The 1-D numbers worked by hand, loop by loop, agree with the checks' references."""
    k = len(W)
    by_hand_x = [sum(G[i] * W[j - i] for i in range(len(G)) if 0 <= j - i < k)
                 for j in range(len(X))]
    by_hand_w = [sum(G[i] * X[i + u] for i in range(len(G))) for u in range(k)]
    assert CHECKS["conv1d_input_grad_by_hand"].reference().tolist() == by_hand_x
    assert CHECKS["conv1d_weight_grad_by_hand"].reference().tolist() == by_hand_w


# ------------------------------------------------------------------------ right answers


def input_grad_by_loops(grad_out, weight):
    """dL/dx[n, c, i + u, j + v] += grad_out[n, o, i, j] · weight[o, c, u, v], literally."""
    n, _, h_out, w_out = grad_out.shape
    k = weight.shape[-1]
    grad = grad_out.new_zeros(n, weight.shape[1], h_out + k - 1, w_out + k - 1)
    for u in range(k):
        for v in range(k):
            grad[:, :, u:u + h_out, v:v + w_out] += torch.einsum(
                "nohw,oc->nchw", grad_out, weight[:, :, u, v])
    return grad


def input_grad_full_convolution(grad_out, weight):
    k = weight.shape[-1]
    return F.conv2d(grad_out, weight.flip(-2, -1).transpose(0, 1), padding=k - 1)


def input_grad_transposed(grad_out, weight):
    return F.conv_transpose2d(grad_out, weight)


def input_grad_torch(grad_out, weight):
    n, _, h_out, w_out = grad_out.shape
    k = weight.shape[-1]
    size = (n, weight.shape[1], h_out + k - 1, w_out + k - 1)
    return torch.nn.grad.conv2d_input(size, weight, grad_out)


def weight_grad_by_windows(x, grad_out):
    h_out, w_out = grad_out.shape[-2:]
    k = x.shape[-1] - w_out + 1
    grad = x.new_zeros(grad_out.shape[1], x.shape[1], k, k)
    for u in range(k):
        for v in range(k):
            window = x[:, :, u:u + h_out, v:v + w_out]
            grad[:, :, u, v] = torch.einsum("nohw,nchw->oc", grad_out, window)
    return grad


def weight_grad_as_a_convolution(x, grad_out):
    """The batch becomes the channels summed over: one conv2d computes every weight."""
    return F.conv2d(x.transpose(0, 1), grad_out.transpose(0, 1)).transpose(0, 1)


def weight_grad_torch(x, grad_out):
    k = x.shape[-1] - grad_out.shape[-1] + 1
    return torch.nn.grad.conv2d_weight(x, (grad_out.shape[1], x.shape[1], k, k), grad_out)


def _dilated(grad_out, stride, zeros=None):
    """grad_out with ``zeros`` (default stride − 1) zeros between its rows and columns."""
    step = stride if zeros is None else zeros + 1
    n, c, h, w = grad_out.shape
    out = grad_out.new_zeros(n, c, (h - 1) * step + 1, (w - 1) * step + 1)
    out[..., ::step, ::step] = grad_out
    return out


def _pad_to(grad, size, at_start=False):
    rows, cols = size[0] - grad.shape[-2], size[1] - grad.shape[-1]
    return F.pad(grad, (cols, 0, rows, 0) if at_start else (0, cols, 0, rows))


def strided_by_dilation(grad_out, weight, stride, size):
    return _pad_to(input_grad_full_convolution(_dilated(grad_out, stride), weight), size)


def strided_transposed(grad_out, weight, stride, size):
    k = weight.shape[-1]
    extra = [s - ((n - 1) * stride + k) for s, n in zip(size, grad_out.shape[-2:])]
    return F.conv_transpose2d(grad_out, weight, stride=stride, output_padding=tuple(extra))


def strided_torch(grad_out, weight, stride, size):
    shape = (grad_out.shape[0], weight.shape[1], *size)
    return torch.nn.grad.conv2d_input(shape, weight, grad_out, stride=stride)


RIGHT = [
    ("conv1d_input_grad_by_hand", np.convolve(G, W, mode="full")),
    ("conv1d_input_grad_by_hand", np.correlate(np.pad(G, len(W) - 1), W[::-1], mode="valid")),
    ("conv1d_input_grad_by_hand", [float(v) for v in np.convolve(G, W)]),
    ("conv1d_weight_grad_by_hand", np.correlate(X, G, mode="valid")),
    ("conv1d_weight_grad_by_hand", torch.tensor(np.correlate(X, G, mode="valid"))),
    ("conv2d_input_grad", input_grad_by_loops),
    ("conv2d_input_grad", input_grad_full_convolution),
    ("conv2d_input_grad", input_grad_transposed),
    ("conv2d_input_grad", input_grad_torch),
    ("conv2d_weight_grad", weight_grad_by_windows),
    ("conv2d_weight_grad", weight_grad_as_a_convolution),
    ("conv2d_weight_grad", weight_grad_torch),
    ("conv2d_input_grad_strided", strided_by_dilation),
    ("conv2d_input_grad_strided", strided_transposed),
    ("conv2d_input_grad_strided", strided_torch),
]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_the_input_gradient_is_a_transposed_convolution_with_the_same_weights():
    """The punchline of the practice, on every case of the check: autograd's dL/dx is
    F.conv_transpose2d(grad_out, weight), with no flip and no swap written by hand."""
    spec = CHECKS["conv2d_input_grad"]
    for grad_out, weight in spec.cases:
        torch.testing.assert_close(F.conv_transpose2d(grad_out, weight),
                                   spec.reference(grad_out, weight))


# ------------------------------------------------------------------------ plausible mistakes


def _k(weight):
    return weight.shape[-1]


def no_flip(grad_out, weight):
    return F.conv2d(grad_out, weight.transpose(0, 1), padding=_k(weight) - 1)


def flipped_one_axis(grad_out, weight):
    return F.conv2d(grad_out, weight.flip(-1).transpose(0, 1), padding=_k(weight) - 1)


def spatial_transpose_for_flip(grad_out, weight):
    return F.conv2d(grad_out, weight.transpose(-2, -1).transpose(0, 1), padding=_k(weight) - 1)


def valid_not_full(grad_out, weight):
    return F.conv2d(grad_out, weight.flip(-2, -1).transpose(0, 1))


def channels_not_swapped(grad_out, weight):
    return F.conv2d(grad_out, weight.flip(-2, -1), padding=_k(weight) - 1)


def summed_over_input_channels(grad_out, weight):
    """Each output channel's full convolution with the sum of its kernels: the sum runs over
    C_in, where it should run over C_out."""
    kernels = weight.sum(1, keepdim=True).flip(-2, -1)
    return F.conv2d(grad_out, kernels, padding=_k(weight) - 1, groups=weight.shape[0])


def summed_over_the_batch(grad_out, weight):
    grad = F.conv_transpose2d(grad_out, weight)
    return grad.sum(0, keepdim=True).expand_as(grad)


def padded_k_minus_2(grad_out, weight):
    return F.conv2d(grad_out, weight.flip(-2, -1).transpose(0, 1), padding=max(_k(weight) - 2, 0))


def padded_k(grad_out, weight):
    return F.conv2d(grad_out, weight.flip(-2, -1).transpose(0, 1), padding=_k(weight))


def transposed_conv_with_swapped_channels(grad_out, weight):
    return F.conv_transpose2d(grad_out, weight.transpose(0, 1))


def first_image_only(x, grad_out):
    return weight_grad_by_windows(x[:1], grad_out[:1])


def batch_mean(x, grad_out):
    return weight_grad_by_windows(x, grad_out) / x.shape[0]


def weight_grad_flipped(x, grad_out):
    return weight_grad_by_windows(x, grad_out).flip(-2, -1)


def grad_out_flipped(x, grad_out):
    """Convolution with grad_out where cross-correlation is due."""
    return weight_grad_by_windows(x, grad_out.flip(-2, -1))


def weight_grad_channels_swapped(x, grad_out):
    return weight_grad_by_windows(x, grad_out).transpose(0, 1)


def weight_grad_full(x, grad_out):
    h_out = grad_out.shape[-1]
    return F.conv2d(x.transpose(0, 1), grad_out.transpose(0, 1),
                    padding=h_out - 1).transpose(0, 1)


def strided_ignoring_the_stride(grad_out, weight, stride, size):
    return input_grad_full_convolution(grad_out, weight)


def strided_with_stride_zeros(grad_out, weight, stride, size):
    return _pad_to(input_grad_full_convolution(_dilated(grad_out, stride, zeros=stride), weight),
                   size)


def strided_no_end_padding(grad_out, weight, stride, size):
    return input_grad_full_convolution(_dilated(grad_out, stride), weight)


def strided_padded_at_the_start(grad_out, weight, stride, size):
    return _pad_to(input_grad_full_convolution(_dilated(grad_out, stride), weight), size,
                   at_start=True)


def strided_transposed_without_output_padding(grad_out, weight, stride, size):
    return F.conv_transpose2d(grad_out, weight, stride=stride)


def strided_no_flip(grad_out, weight, stride, size):
    return _pad_to(no_flip(_dilated(grad_out, stride), weight), size)


PLAUSIBLE_MISTAKES = [
    ("conv1d_input_grad_by_hand", np.correlate(G, W, mode="full"), "forgot the flip"),
    ("conv1d_input_grad_by_hand", np.correlate(W, G, mode="full"), "w ⋆ dL/dy, full"),
    ("conv1d_input_grad_by_hand", np.convolve(G, W, mode="valid"), "'valid' instead of 'full'"),
    ("conv1d_input_grad_by_hand", np.convolve(G, W, mode="same"), "'same' instead of 'full'"),
    ("conv1d_input_grad_by_hand", np.correlate(np.pad(G, len(W) - 2), W[::-1], mode="valid"),
     "padded with k − 2 zeros"),
    ("conv1d_input_grad_by_hand", np.correlate(np.pad(G, len(W)), W[::-1], mode="valid"),
     "padded with k zeros"),
    ("conv1d_input_grad_by_hand", np.convolve(G, W)[::-1], "the result reversed"),
    ("conv1d_input_grad_by_hand", np.correlate(X, W, mode="valid"), "the forward output y"),
    ("conv1d_weight_grad_by_hand", np.convolve(X, G, mode="valid"), "convolution: flipped dL/dy"),
    ("conv1d_weight_grad_by_hand", np.correlate(X, G, mode="valid")[::-1], "the result reversed"),
    ("conv1d_weight_grad_by_hand", np.correlate(X, G, mode="full"), "'full' instead of 'valid'"),
    ("conv1d_weight_grad_by_hand", np.correlate(X, W, mode="valid"), "the forward output y"),
    ("conv1d_weight_grad_by_hand", np.convolve(G, W, mode="full")[:3],
     "dL/dx's first values instead"),
    ("conv2d_input_grad", no_flip, "forgot the flip"),
    ("conv2d_input_grad", flipped_one_axis, "flipped along one axis only"),
    ("conv2d_input_grad", spatial_transpose_for_flip, "transposed the kernel instead of flipping"),
    ("conv2d_input_grad", valid_not_full, "'valid' instead of 'full' (wrong size)"),
    ("conv2d_input_grad", channels_not_swapped, "in and out channels not swapped"),
    ("conv2d_input_grad", transposed_conv_with_swapped_channels,
     "transposed convolution with the channels swapped as well"),
    ("conv2d_input_grad", summed_over_input_channels, "summed over C_in instead of C_out"),
    ("conv2d_input_grad", summed_over_the_batch, "summed over the batch axis"),
    ("conv2d_input_grad", padded_k_minus_2, "padded with k − 2 zeros"),
    ("conv2d_input_grad", padded_k, "padded with k zeros"),
    ("conv2d_weight_grad", first_image_only, "missing the batch sum: the first image only"),
    ("conv2d_weight_grad", batch_mean, "the batch mean instead of the sum"),
    ("conv2d_weight_grad", weight_grad_flipped, "the kernel gradient flipped"),
    ("conv2d_weight_grad", grad_out_flipped, "convolution with grad_out, not correlation"),
    ("conv2d_weight_grad", weight_grad_channels_swapped, "(C_in, C_out) instead of (C_out, C_in)"),
    ("conv2d_weight_grad", weight_grad_full, "'full', not 'valid' (wrong size)"),
    ("conv2d_weight_grad", lambda x, g: weight_grad_by_windows(x, g).sum(1, keepdim=True).expand(
        -1, x.shape[1], -1, -1), "summed over the input channels"),
    ("conv2d_input_grad_strided", strided_ignoring_the_stride, "ignored the stride"),
    ("conv2d_input_grad_strided", strided_with_stride_zeros, "stride zeros between, not s − 1"),
    ("conv2d_input_grad_strided", strided_no_end_padding, "no zeros for the rows left over"),
    ("conv2d_input_grad_strided", strided_padded_at_the_start, "leftover zeros at the start"),
    ("conv2d_input_grad_strided", strided_transposed_without_output_padding,
     "conv_transpose2d without output_padding"),
    ("conv2d_input_grad_strided", strided_no_flip, "forgot the flip"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict = check(name, answer)
    out = capsys.readouterr().out
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out and "Reread: [" in out


def test_every_backward_check_has_plausible_mistakes_listed():
    assert set(BACKWARD_CHECKS) <= {name for name, _, _ in PLAUSIBLE_MISTAKES}


@pytest.mark.parametrize("answer, case", [
    (summed_over_the_batch, "the case with 2 input and 4 output channels and a batch of 2"),
    (channels_not_swapped, "the 3-channel 5×7 case"),
    (valid_not_full, "the single-channel 3×3 kernel case"),
])
def test_a_wrong_input_gradient_is_told_which_case_failed(answer, case):
    verdict = check("conv2d_input_grad", answer, quiet=True)
    assert verdict.reason.startswith(f"in {case}, for {answer.__name__}(")


def test_the_stride_cases_are_named():
    verdict = check("conv2d_input_grad_strided", strided_ignoring_the_stride, quiet=True)
    assert verdict.reason.startswith("in the stride-2 case, for ")
    leftover = check("conv2d_input_grad_strided", strided_no_end_padding, quiet=True)
    assert leftover.reason.startswith("in the stride-2 case with a row and a column left over")
    assert "the result has shape" in leftover.reason
    batch = check("conv2d_weight_grad", first_image_only, quiet=True)
    assert batch.reason.startswith("in the batch-of-3 case, for ")

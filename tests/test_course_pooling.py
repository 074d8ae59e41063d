"""The BlurPool practice's checks (practice 19): the references are the library's BlurPool and
its shift-equivariance measure, answers written independently of them pass (kornia's BlurPool
among them), and the plausible mistakes of each exercise fail with a verdict.

The generic tests in test_course.py (perturbed answers, stubs, no answer given away, the
student version) run over these checks too; this file adds the mistakes that are specific to
anti-aliased pooling: an unnormalised kernel, the blur after the subsampling, the wrong
padding, the wrong subsampling offset, and a blur that mixes channels.
"""

from __future__ import annotations

import math

import kornia.filters
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mednotes.course import CHECKS, check
from mednotes.course.checks_pooling import (
    DIAGONAL_SHIFT,
    NEW_NYQUIST,
    RESPONSE_FREQUENCIES,
)
from mednotes.pooling import max_blur_pool2d, max_pool2d, subpixel_roll

BLURPOOL_CHECKS = ("binomial_kernel_2d", "blur_gain_at_new_nyquist", "blur_frequency_response",
                   "blurpool2d", "shift_equivariance", "max_vs_max_blur_shift_error")

ROW = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64) / 4


def test_every_blurpool_check_is_registered():
    assert set(BLURPOOL_CHECKS) <= set(CHECKS)


def test_the_response_reference_is_the_closed_form_and_the_fft():
    """|H(f)| = cos²(πf) for [1, 2, 1] / 4, and the DFT of the taps on a grid of 40 bins
    (multiples of 1/40 cycle per pixel, every tested frequency among them) agrees."""
    spec = CHECKS["blur_frequency_response"]
    dft = torch.fft.fft(ROW, n=40).abs()
    for f in RESPONSE_FREQUENCIES:
        assert spec.reference(f) == pytest.approx(math.cos(math.pi * f) ** 2, abs=1e-12)
        assert spec.reference(f) == pytest.approx(float(dft[round(f * 40)]), abs=1e-12)
    assert CHECKS["blur_gain_at_new_nyquist"].reference() == pytest.approx(
        math.cos(math.pi * NEW_NYQUIST) ** 2)


# ------------------------------------------------------------------------ right answers


def blurpool_by_hand(x, stride=2):
    channels = x.shape[1]
    weight = torch.outer(ROW, ROW).to(x.dtype).expand(channels, 1, 3, 3)
    return F.conv2d(x, weight, padding=1, groups=channels)[..., ::stride, ::stride]


def blurpool_separable(x, stride=2):
    """Rows, then columns, each a 1-D blur with zero padding, then the subsampling."""
    channels = x.shape[1]
    rows = F.conv2d(x, ROW.to(x.dtype).view(1, 1, 1, 3).expand(channels, 1, 1, 3),
                    padding=(0, 1), groups=channels)
    both = F.conv2d(rows, ROW.to(x.dtype).view(1, 1, 3, 1).expand(channels, 1, 3, 1),
                    padding=(1, 0), groups=channels)
    return both[..., ::stride, ::stride]


def blurpool_kornia(x, stride=2):
    return kornia.filters.blur_pool2d(x, 3, stride=stride)


def equivariance_by_hand(op, x, shift):
    out = op(x)
    s = x.shape[-1] // out.shape[-1]
    moved = op(torch.roll(x, shift, dims=(2, 3)))
    expected = subpixel_roll(out, (shift[0] / s, shift[1] / s), dims=(2, 3))
    return float((moved - expected).norm() / expected.norm())


def equivariance_numpy(op, x, shift):
    """The same measure with the half-pixel move done by numpy's FFT, one axis at a time."""
    out = op(x).numpy()
    s = x.shape[-1] // out.shape[-1]
    expected = out
    for axis, t in zip((2, 3), shift):
        n = expected.shape[axis]
        k = np.fft.fftfreq(n, d=1 / n)
        phase = np.exp(-2j * np.pi * k * (t / s) / n)
        if n % 2 == 0:  # the Nyquist bin keeps its real part, cos(π t/s): the output stays real
            phase[n // 2] = np.cos(np.pi * t / s)
        shape = [1] * expected.ndim
        shape[axis] = n
        expected = np.fft.ifft(np.fft.fft(expected, axis=axis) * phase.reshape(shape),
                               axis=axis).real
    moved = op(torch.roll(x, shift, dims=(2, 3))).numpy()
    return float(np.linalg.norm(moved - expected) / np.linalg.norm(expected))


def _edge_errors(measure, blur_padding="circular"):
    """(max pooling's error, max-blur pooling's) on the chapter's CT edge map, by ``measure``."""
    from mednotes import kernels
    from mednotes.conv import correlate
    from mednotes.data import ct_slice, window

    ct = window(ct_slice()[0], "soft tissue")
    x = correlate(ct, kernels.sobel("x"), mode="same").abs().double()[None, None]
    return (measure(lambda v: max_pool2d(v, 2), x, DIAGONAL_SHIFT),
            measure(lambda v: max_blur_pool2d(v, 3, padding_mode=blur_padding), x,
                    DIAGONAL_SHIFT))


RIGHT = [
    ("binomial_kernel_2d", torch.outer(ROW, ROW)),
    ("binomial_kernel_2d", np.outer([1, 2, 1], [1, 2, 1]) / 16),
    ("binomial_kernel_2d",
     [[1 / 16, 1 / 8, 1 / 16], [1 / 8, 1 / 4, 1 / 8], [1 / 16, 1 / 8, 1 / 16]]),
    ("binomial_kernel_2d",
     [[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]]),
    ("blur_gain_at_new_nyquist", 0.5),
    ("blur_gain_at_new_nyquist", 1 / 2),
    ("blur_gain_at_new_nyquist", 0.5 + 0.5 * math.cos(2 * math.pi * 0.25)),  # 0.5 + 3e-17
    ("blur_frequency_response", lambda f: math.cos(math.pi * f) ** 2),
    ("blur_frequency_response", lambda f: 0.5 + 0.5 * math.cos(2 * math.pi * f)),
    ("blur_frequency_response", lambda f: abs(sum(
        h * np.exp(-2j * np.pi * f * n) for h, n in zip((0.25, 0.5, 0.25), (0, 1, 2))))),
    ("blur_frequency_response", lambda f: torch.fft.fft(ROW, n=40).abs()[round(f * 40)]),
    ("blurpool2d", blurpool_by_hand),
    ("blurpool2d", blurpool_separable),
    ("blurpool2d", blurpool_kornia),
    ("shift_equivariance", equivariance_by_hand),
    ("shift_equivariance", equivariance_numpy),
]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_the_measured_pair_passes_when_computed_with_an_independent_measure(capsys):
    """The value the practice asks for, computed as a student would, with numpy's FFT."""
    errors = _edge_errors(equivariance_numpy)
    assert check("max_vs_max_blur_shift_error", errors), capsys.readouterr().out
    assert errors[1] < errors[0] / 2, "max-blur pooling is the more equivariant, by far"


# ------------------------------------------------------------------------ plausible mistakes


def _depthwise(x, kernel, padding=1, mode="constant"):
    channels = x.shape[1]
    if mode != "constant":
        x, padding = F.pad(x, (1, 1, 1, 1), mode=mode), 0
    return F.conv2d(x, kernel.to(x.dtype).expand(channels, 1, 3, 3), padding=padding,
                    groups=channels)


KERNEL = torch.outer(ROW, ROW)


def unnormalised(x, stride=2):
    return _depthwise(x, KERNEL * 16)[..., ::stride, ::stride]


def normalised_by_four(x, stride=2):
    return _depthwise(x, KERNEL * 4)[..., ::stride, ::stride]


def blur_after_subsampling(x, stride=2):
    return _depthwise(x[..., ::stride, ::stride], KERNEL)


def reflect_padding(x, stride=2):
    return _depthwise(x, KERNEL, mode="reflect")[..., ::stride, ::stride]


def replicate_padding(x, stride=2):
    return _depthwise(x, KERNEL, mode="replicate")[..., ::stride, ::stride]


def no_padding(x, stride=2):
    return _depthwise(x, KERNEL, padding=0)[..., ::stride, ::stride]


def offset_one(x, stride=2):
    return _depthwise(x, KERNEL)[..., 1::stride, 1::stride]


def mixing_channels(x, stride=2):
    """One 3×3 kernel from every input channel to every output channel: a dense conv."""
    c = x.shape[1]
    weight = KERNEL.to(x.dtype).expand(c, c, 3, 3) / c
    return F.conv2d(x, weight, padding=1)[..., ::stride, ::stride]


def summing_channels(x, stride=2):
    c = x.shape[1]
    return F.conv2d(x, KERNEL.to(x.dtype).expand(c, c, 3, 3), padding=1)[..., ::stride, ::stride]


def box_blur(x, stride=2):
    return _depthwise(x, torch.full((3, 3), 1 / 9, dtype=torch.float64))[..., ::stride, ::stride]


def average_pool(x, stride=2):
    return F.avg_pool2d(x, stride, stride, ceil_mode=True)


def _expected(op, x, shift):
    out = op(x)
    s = x.shape[-1] // out.shape[-1]
    return out, s, subpixel_roll(out, (shift[0] / s, shift[1] / s), dims=(2, 3))


def no_output_shift(op, x, shift):
    out = op(x)
    return float((op(torch.roll(x, shift, dims=(2, 3))) - out).norm() / out.norm())


def output_shifted_by_the_whole_shift(op, x, shift):
    out = op(x)
    expected = subpixel_roll(out, shift, dims=(2, 3))
    return float((op(torch.roll(x, shift, dims=(2, 3))) - expected).norm() / expected.norm())


def output_shift_rounded(op, x, shift):
    out, s, _ = _expected(op, x, shift)
    expected = torch.roll(out, (shift[0] // s, shift[1] // s), dims=(2, 3))
    return float((op(torch.roll(x, shift, dims=(2, 3))) - expected).norm() / expected.norm())


def not_relative(op, x, shift):
    _, _, expected = _expected(op, x, shift)
    return float((op(torch.roll(x, shift, dims=(2, 3))) - expected).norm())


def divided_by_the_moved_output(op, x, shift):
    _, _, expected = _expected(op, x, shift)
    moved = op(torch.roll(x, shift, dims=(2, 3)))
    return float((moved - expected).norm() / moved.norm())


def squared_norms(op, x, shift):
    _, _, expected = _expected(op, x, shift)
    moved = op(torch.roll(x, shift, dims=(2, 3)))
    return float((moved - expected).norm() ** 2 / expected.norm() ** 2)


def shifted_the_wrong_way(op, x, shift):
    _, s, _ = _expected(op, x, shift)
    expected = subpixel_roll(op(x), (-shift[0] / s, -shift[1] / s), dims=(2, 3))
    return float((op(torch.roll(x, shift, dims=(2, 3))) - expected).norm() / expected.norm())


def rolled_the_batch_axes(op, x, shift):
    _, _, expected = _expected(op, x, shift)
    return float((op(torch.roll(x, shift, dims=(0, 1))) - expected).norm() / expected.norm())


PLAUSIBLE_MISTAKES = [
    ("binomial_kernel_2d", torch.outer(ROW, ROW) * 16, "unnormalised: [1, 2, 1] outer itself"),
    ("binomial_kernel_2d", torch.outer(ROW, ROW) * 4, "divided by 4, not 16"),
    ("binomial_kernel_2d", torch.full((3, 3), 1 / 9), "a box filter"),
    ("binomial_kernel_2d", ROW[:, None] + ROW[None, :], "outer sum, not outer product"),
    ("binomial_kernel_2d", (ROW[:, None] + ROW[None, :]) / 4, "outer sum, renormalised"),
    ("binomial_kernel_2d", torch.diag(ROW), "the 1-D kernel on the diagonal"),
    ("blur_gain_at_new_nyquist", 1, "no attenuation: a blur keeps everything"),
    ("blur_gain_at_new_nyquist", 2, "unnormalised taps [1, 2, 1]"),
    ("blur_gain_at_new_nyquist", 0.25, "the power |H|², not the amplitude"),
    ("blur_gain_at_new_nyquist", 1 / 3, "a 3-tap box filter, [1, 1, 1] / 3"),
    ("blur_gain_at_new_nyquist", 0, "cos(2πf) alone: the centre tap forgotten"),
    ("blur_frequency_response", lambda f: abs(math.cos(math.pi * f)), "|cos(πf)|: a 2-tap box"),
    ("blur_frequency_response", lambda f: 0.5 + 0.5 * math.cos(math.pi * f), "πf, not 2πf"),
    ("blur_frequency_response", lambda f: 0.5 + 0.5 * abs(math.cos(2 * math.pi * f)),
     "exp(−iπ) taken as +1: |cos| where cos is due"),
    ("blur_frequency_response", lambda f: math.cos(math.pi * f) ** 4, "the power |H|²"),
    ("blur_frequency_response", lambda f: abs(1 + 2 * math.cos(2 * math.pi * f)) / 3,
     "a 3-tap box filter"),
    ("blur_frequency_response", lambda f: 1 + math.cos(2 * math.pi * f), "taps not normalised"),
    ("blur_frequency_response", lambda f: 0.25 + 0.5 * math.cos(2 * math.pi * f)
     + 0.25 * math.cos(4 * math.pi * f), "the real part only, taps not centred"),
    ("blur_frequency_response", lambda f: math.cos(f) ** 2, "f used as an angle in radians"),
    ("blurpool2d", unnormalised, "unnormalised kernel"),
    ("blurpool2d", normalised_by_four, "kernel normalised by 4, not 16"),
    ("blurpool2d", blur_after_subsampling, "blur after the subsampling"),
    ("blurpool2d", reflect_padding, "reflect padding, not the library's zeros"),
    ("blurpool2d", replicate_padding, "replicate padding"),
    ("blurpool2d", no_padding, "no padding (output too small)"),
    ("blurpool2d", offset_one, "subsampling from index 1"),
    ("blurpool2d", mixing_channels, "a dense blur that mixes the channels"),
    ("blurpool2d", summing_channels, "a dense blur that sums the channels"),
    ("blurpool2d", box_blur, "a box blur"),
    ("blurpool2d", average_pool, "average pooling"),
    ("shift_equivariance", no_output_shift, "did not move the output at all"),
    ("shift_equivariance", output_shifted_by_the_whole_shift, "moved the output by t, not t/s"),
    ("shift_equivariance", output_shift_rounded, "moved the output by t // s"),
    ("shift_equivariance", not_relative, "forgot to divide by the norm"),
    ("shift_equivariance", divided_by_the_moved_output, "divided by the moved output's norm"),
    ("shift_equivariance", squared_norms, "squared norms"),
    ("shift_equivariance", shifted_the_wrong_way, "moved the output the other way"),
    ("shift_equivariance", rolled_the_batch_axes, "rolled the batch and channel axes"),
    ("max_vs_max_blur_shift_error", tuple(reversed(_edge_errors(equivariance_by_hand))),
     "the two numbers swapped"),
    ("max_vs_max_blur_shift_error", _edge_errors(no_output_shift), "did not move the output"),
    ("max_vs_max_blur_shift_error", _edge_errors(equivariance_by_hand, blur_padding="zeros"),
     "zero padding for the blur, where circular was given"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict = check(name, answer)
    out = capsys.readouterr().out
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out and "Reread: [" in out


def test_every_blurpool_check_has_plausible_mistakes_listed():
    assert set(BLURPOOL_CHECKS) <= {name for name, _, _ in PLAUSIBLE_MISTAKES}


@pytest.mark.parametrize("answer, case", [
    (offset_one, "the single-channel 8×8 case"),
    (reflect_padding, "the single-channel 8×8 case"),
    (mixing_channels, "the 3-channel 7×9 case (odd sizes)"),
    (blur_after_subsampling, "the single-channel 8×8 case"),
])
def test_a_wrong_blurpool_is_told_which_case_failed(answer, case):
    verdict = check("blurpool2d", answer, quiet=True)
    assert verdict.reason.startswith(f"in {case}, for {answer.__name__}(")


def test_a_wrong_measure_is_told_too_high_or_too_low_and_which_case():
    verdict = check("shift_equivariance", output_shift_rounded, quiet=True)
    assert verdict.reason.startswith("in the max-pool case, for output_shift_rounded(a function, ")
    assert verdict.reason.endswith(("too high", "too low"))

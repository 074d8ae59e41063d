"""Checks for the pooling chapter's practices: output sizes of pooling, where aliases land,
and BlurPool by hand.

Used by ``exercises/05_pooling_sizes.ipynb``, ``exercises/06_predicting_aliasing.ipynb`` and
``exercises/19_blurpool_by_hand.ipynb``; the chapter is ``book/principles/03_pooling``. The
references of practice 19 are the library's own BlurPool (``mednotes.pooling``, tested against
kornia's) and its shift-equivariance measure, computed when a check runs.
"""

from __future__ import annotations

import functools
import math

import torch

from mednotes.course.compare import Check, refined
from mednotes.pooling import (
    avg_pool2d,
    binomial_kernel,
    blur_pool2d,
    max_blur_pool2d,
    max_pool2d,
    shift_equivariance_error,
)

#: The frequency (cycles per pixel) at which practice 19 asks for the 1-D blur's response by
#: hand: the Nyquist limit of the grid that stride 2 leaves.
NEW_NYQUIST = 0.25

#: The frequencies on which the response function of practice 19 is tried, with DC (0) and
#: the grid's own Nyquist limit (0.5) first.
RESPONSE_FREQUENCIES = (0.0, 0.5, 0.25, 0.125, 0.375, 0.1)

#: The shift of the input, in pixels (rows, columns), in practice 19's measurement.
DIAGONAL_SHIFT = (1, 1)


def _torch_pool_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """The output length torch's own max pooling gives, measured rather than computed."""
    x = torch.zeros(1, 1, n)
    return torch.nn.functional.max_pool1d(x, k, s, p, ceil_mode=ceil_mode).shape[-1]


def _alias_frequency(f: float, s: int) -> float:
    """Apparent frequency (cycles per original pixel) of f after keeping every s-th pixel."""
    rate = 1.0 / s
    return abs(f - rate * round(f / rate))


# ------------------------------------------------------------------------ BlurPool by hand


def _blur_response(f: float) -> float:
    """|H(f)| of the library's 3-tap binomial filter, |Σ_n h[n] exp(−2πi f n)| for the taps
    centred on the middle one (n = −1, 0, 1)."""
    taps = binomial_kernel(3, dims=1, dtype=torch.float64)
    n = torch.arange(3, dtype=torch.float64) - 1
    return float((taps * torch.exp(-2j * math.pi * f * n)).sum().abs())


def _max_pool(v: torch.Tensor) -> torch.Tensor:
    return max_pool2d(v, 2)


def _max_blur_pool(v: torch.Tensor) -> torch.Tensor:
    return max_blur_pool2d(v, 3, padding_mode="circular")


def _blur_pool(v: torch.Tensor) -> torch.Tensor:
    return blur_pool2d(v, 3, 2, padding_mode="circular")


def _naive(v: torch.Tensor) -> torch.Tensor:
    return v[..., ::2, ::2]


def _average_pool_4(v: torch.Tensor) -> torch.Tensor:
    return avg_pool2d(v, 4)


@functools.cache
def _edge_map() -> torch.Tensor:
    """The chapter's CT edge map, |vertical Sobel| of the soft-tissue window, (1, 1, H, W)."""
    from mednotes import kernels
    from mednotes.conv import correlate
    from mednotes.data import ct_slice, window

    ct = window(ct_slice()[0], "soft tissue")
    return correlate(ct, kernels.sobel("x"), mode="same").abs().double()[None, None]


def _max_vs_max_blur() -> tuple[float, float]:
    """Shift-equivariance error of max pooling and of max-blur pooling on the edge map."""
    x = _edge_map()
    return tuple(shift_equivariance_error(op, x, DIAGONAL_SHIFT)
                 for op in (_max_pool, _max_blur_pool))


def _blurpool_cases() -> dict[str, tuple[tuple, ...]]:
    """Test inputs of the two function exercises of practice 19: float64, seeded."""
    g = torch.Generator().manual_seed(19)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    blur = ((randn(1, 1, 8, 8), 2), (randn(2, 3, 7, 9), 2), (randn(1, 2, 9, 9), 3),
            (torch.ones(1, 1, 6, 6, dtype=torch.float64), 2), (randn(1, 2, 5, 6), 1))
    noise = randn(1, 1, 32, 32)
    smooth = blur_pool2d(randn(2, 3, 64, 64), 5, 2, padding_mode="circular")  # (2, 3, 32, 32)
    shifts = ((_max_pool, noise, (1, 1)), (_max_blur_pool, noise, (1, 1)),
              (_naive, noise, (2, 0)), (_naive, noise, (0, 1)), (_blur_pool, smooth, (1, 0)),
              (_average_pool_4, smooth, (1, 2)))
    return {"blurpool2d": blur, "shift_equivariance": shifts}


def _blurpool_checks() -> dict[str, Check]:
    """The checks of practice 19, BlurPool by hand."""
    cases = _blurpool_cases()
    return {
        "binomial_kernel_2d": Check(
            reference=lambda: binomial_kernel(3, dims=2, dtype=torch.float64),
            hint="Weight (u, v) is the product of the 1-D weights at u and at v: the outer "
                 "product of the 1-D kernel with itself (torch.outer). Its nine weights add "
                 "up to one, as the three 1-D weights do."),
        "blur_gain_at_new_nyquist": Check(
            reference=lambda: _blur_response(NEW_NYQUIST),
            hint="The response of taps h at frequency f is Σ_n h[n]·exp(−2πi·f·n). Centre "
                 "the taps on the middle one, c, with e on either side: the outer pair "
                 "combine into a cosine, c + 2e·cos(2πf); put in f."),
        "blur_frequency_response": Check(
            reference=_blur_response, cases=tuple((f,) for f in RESPONSE_FREQUENCIES),
            hint="|H(f)| = |c + 2e·cos(2πf)| for the centre tap c and the outer taps e, the "
                 "formula of the exercise before, as a function of f (math.cos and math.pi); "
                 "return a float."),
        "blurpool2d": Check(
            reference=lambda x, stride: blur_pool2d(x, 3, stride), cases=cases["blurpool2d"],
            hint="Give the 3×3 binomial kernel one copy per channel (a weight of shape "
                 "(C, 1, 3, 3)), blur with F.conv2d(x, weight, padding=1, groups=C), which "
                 "pads with zeros as the library does, then keep every stride-th row and "
                 "column, starting at index 0."),
        "shift_equivariance": Check(
            reference=shift_equivariance_error, cases=cases["shift_equivariance"],
            hint="With s = input size // output size: moved = op(torch.roll(x, shift, "
                 "dims=(2, 3))), expected = subpixel_roll(op(x), (dy / s, dx / s), dims=(2, 3)); "
                 "return the norm of their difference over the norm of expected, as a float."),
        "max_vs_max_blur_shift_error": Check(
            reference=_max_vs_max_blur,
            hint="errors = (your_error(max pooling, x, (dy, dx)), your_error(max-blur "
                 "pooling, x, (dy, dx))) with the two ops exactly as given (circular padding "
                 "for the blur), x the edge map as a float64 batch of one, and the diagonal "
                 "one-pixel shift."),
    }


#: The first hint of each check: the idea, before the formula or the step.
IDEAS = {
    "pool_output_size": (
        "Count the windows that fit, as for a convolution; ceil_mode also keeps a last "
        "window that sticks out, unless it would start in the padding."
    ),
    "pool_size_vgg": (
        "Each 2×2 pooling with stride 2 halves the side; count the poolings."
    ),
    "pool_size_odd": (
        "With an odd size, a 2×2 window with stride 2 leaves one column over: does the "
        "pooling drop it or keep it?"
    ),
    "alias_frequency": (
        "Subsampling cannot tell apart frequencies that differ by a multiple of the new "
        "sampling rate; the alias is the one of those nearest to zero."
    ),
    "nyquist_after_stride": (
        "Sampling sets a limit on the frequencies a grid can represent: what is it for "
        "the grid that is left?"
    ),
    "binomial_kernel_2d": (
        "The binomial blur is separable: blurring the rows with the 1-D filter and then "
        "the columns is one 2-D blur."
    ),
    "blur_gain_at_new_nyquist": (
        "A filter multiplies a cosine by its frequency response at the cosine's frequency: "
        "a blur lets slow variations through and damps fast ones."
    ),
    "blur_frequency_response": (
        "The same sum of the taps against the complex exponential, for any frequency; the "
        "fastest pattern a grid holds flips sign from one pixel to the next."
    ),
    "blurpool2d": (
        "BlurPool is two steps in a fixed order: low-pass each channel on its own, then "
        "keep every stride-th pixel."
    ),
    "shift_equivariance": (
        "An op with stride s is equivariant when moving its input by t pixels moves its "
        "output by t / s pixels: compare its output for the moved input with its old "
        "output moved by that much, relative to the size of the latter."
    ),
    "max_vs_max_blur_shift_error": (
        "Measure both poolings the same way, with your function, on the same image and "
        "the same shift."
    ),
}

#: What the feedback calls each test input of the function exercises.
CASE_NAMES = {
    "alias_frequency": (
        "the case below the new Nyquist limit",
        "the one-fold case",
        "the case near the old limit",
        "the one-fold case at stride 4",
        "the case past 1/s at stride 4",
        "the case past 1/s at stride 3",
        "the case exactly at the new Nyquist limit",
        "the slow-frequency case at stride 4",
        "the case near the old limit at stride 3",
        "the case nearest to 2/s at stride 4",
        "the second case nearest to 2/s at stride 4",
        "the case above the original Nyquist limit",
    ),
    "blur_frequency_response": (
        "the DC case (a constant)",
        "the Nyquist case (pixels alternating in sign)",
        "the case at the Nyquist limit of stride 2",
        "the case at an eighth of a cycle per pixel",
        "the case at three eighths of a cycle per pixel",
        "the case at a tenth of a cycle per pixel",
    ),
    "blurpool2d": (
        "the single-channel 8×8 case",
        "the 3-channel 7×9 case (odd sizes)",
        "the stride-3 case",
        "the constant-image case",
        "the stride-1 case (the blur alone)",
    ),
    "shift_equivariance": (
        "the max-pool case",
        "the max-blur-pool case",
        "the naive-subsampling case with an even shift",
        "the naive-subsampling case with an odd shift",
        "the blur-pool case with a shift along one axis",
        "the stride-4 average-pool case",
    ),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return refined({**_size_and_alias_checks(), **_blurpool_checks()}, ideas=IDEAS,
                   names=CASE_NAMES)


def _size_and_alias_checks() -> dict[str, Check]:
    """The checks of practices 05 and 06: pooling sizes, and where aliases land."""
    size_cases = ((64, 2, 2, 0, False), (65, 2, 2, 0, False), (65, 2, 2, 0, True),
                  (7, 3, 2, 1, False), (8, 3, 2, 1, True), (10, 3, 3, 0, True),
                  (112, 3, 2, 1, False), (5, 2, 2, 1, True), (6, 3, 2, 1, True))
    # (0.45, 4) and (0.4, 4) lie nearer to 2/s than to 1/s, so a single fold about the new
    # Nyquist limit, |1/s − f|, misses them; (0.7, 2) catches 1/s − f without the abs().
    alias_cases = ((0.1, 2), (0.3, 2), (0.45, 2), (0.2, 4), (0.3, 4), (0.4, 3), (0.25, 2),
                   (0.05, 4), (0.49, 3), (0.45, 4), (0.4, 4), (0.7, 2))
    return {
        "pool_output_size": Check(
            reference=_torch_pool_size, cases=size_cases,
            hint="out = floor((n + 2p − k) / s) + 1, or ceil(...) + 1 with ceil_mode; with "
                 "ceil_mode, drop the last window if it would start inside the right padding "
                 "((out − 1)·s ≥ n + p).",
        ),
        "pool_size_vgg": Check(
            reference=lambda: 7,
            hint="Each 2×2 pool with stride 2 halves the side (exactly here: every halving of "
                 "224 is even, so nothing is rounded); halve once per pool."),
        "pool_size_odd": Check(
            reference=lambda: (32, 33),
            hint="Without ceil_mode, floor((n − k) / s) + 1 leaves out the last column, for "
                 "which no full window is left; ceil_mode rounds the division up and keeps a "
                 "last, partial window."),
        "alias_frequency": Check(
            reference=_alias_frequency, cases=alias_cases, atol=1e-9,
            hint="After subsampling by s the sampling rate is 1/s per original pixel, and f "
                 "cannot be told from f − m/s for any integer m: the alias is f's distance to "
                 "the nearest multiple of 1/s, whichever multiple that is (0, 1/s, 2/s, ...).",
        ),
        "nyquist_after_stride": Check(
            reference=lambda: 1 / 6,  # typed: three significant figures pass (TYPED_RTOL)
            hint="Keeping every s-th pixel leaves 1/s samples per original pixel, and a grid "
                 "represents frequencies up to half of its sampling rate."),
    }


__all__ = ["CASE_NAMES", "DIAGONAL_SHIFT", "IDEAS", "NEW_NYQUIST", "RESPONSE_FREQUENCIES",
           "checks"]

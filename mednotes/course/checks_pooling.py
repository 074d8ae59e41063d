"""Checks for the pooling chapter's practices: output sizes of pooling, and where aliases land.

Used by ``exercises/05_pooling_sizes.ipynb`` and ``exercises/06_predicting_aliasing.ipynb``;
the chapter is ``book/principles/03_pooling``.
"""

from __future__ import annotations

import torch

from mednotes.course.compare import Check, refined


def _torch_pool_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """The output length torch's own max pooling gives, measured rather than computed."""
    x = torch.zeros(1, 1, n)
    return torch.nn.functional.max_pool1d(x, k, s, p, ceil_mode=ceil_mode).shape[-1]


def _alias_frequency(f: float, s: int) -> float:
    """Apparent frequency (cycles per original pixel) of f after keeping every s-th pixel."""
    rate = 1.0 / s
    return abs(f - rate * round(f / rate))


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
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    size_cases = ((64, 2, 2, 0, False), (65, 2, 2, 0, False), (65, 2, 2, 0, True),
                  (7, 3, 2, 1, False), (8, 3, 2, 1, True), (10, 3, 3, 0, True),
                  (112, 3, 2, 1, False), (5, 2, 2, 1, True), (6, 3, 2, 1, True))
    # (0.45, 4) and (0.4, 4) lie nearer to 2/s than to 1/s, so a single fold about the new
    # Nyquist limit, |1/s − f|, misses them; (0.7, 2) catches 1/s − f without the abs().
    alias_cases = ((0.1, 2), (0.3, 2), (0.45, 2), (0.2, 4), (0.3, 4), (0.4, 3), (0.25, 2),
                   (0.05, 4), (0.49, 3), (0.45, 4), (0.4, 4), (0.7, 2))
    return refined({
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
    }, ideas=IDEAS, names=CASE_NAMES)


__all__ = ["CASE_NAMES", "IDEAS", "checks"]

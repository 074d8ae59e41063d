"""Checks for the pooling chapter's practices: output sizes of pooling, and where aliases land.

Used by ``exercises/05_pooling_sizes.ipynb`` and ``exercises/06_predicting_aliasing.ipynb``;
the chapter is ``book/principles/03_pooling``.
"""

from __future__ import annotations

import torch

from mednotes.course.compare import Check


def _torch_pool_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """The output length torch's own max pooling gives, measured rather than computed."""
    x = torch.zeros(1, 1, n)
    return torch.nn.functional.max_pool1d(x, k, s, p, ceil_mode=ceil_mode).shape[-1]


def _alias_frequency(f: float, s: int) -> float:
    """Apparent frequency (cycles per original pixel) of f after keeping every s-th pixel."""
    rate = 1.0 / s
    return abs(f - rate * round(f / rate))


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    size_cases = ((64, 2, 2, 0, False), (65, 2, 2, 0, False), (65, 2, 2, 0, True),
                  (7, 3, 2, 1, False), (8, 3, 2, 1, True), (10, 3, 3, 0, True),
                  (112, 3, 2, 1, False), (5, 2, 2, 1, True), (6, 3, 2, 1, True))
    alias_cases = ((0.1, 2), (0.3, 2), (0.45, 2), (0.2, 4), (0.3, 4), (0.4, 3), (0.25, 2),
                   (0.05, 4), (0.49, 3))
    return {
        "pool_output_size": Check(
            reference=_torch_pool_size, cases=size_cases,
            hint="out = floor((n + 2p − k) / s) + 1, or ceil(...) + 1 with ceil_mode; with "
                 "ceil_mode, drop the last window if it would start inside the right padding "
                 "((out − 1)·s ≥ n + p).",
        ),
        "pool_size_vgg": Check(
            reference=lambda: 7,
            hint="224 is halved five times: 224 → 112 → 56 → 28 → 14 → 7."),
        "pool_size_odd": Check(
            reference=lambda: (32, 33),
            hint="floor((65 − 2) / 2) + 1 = 32 drops the last row; ceil_mode keeps a partial "
                 "window: 33."),
        "alias_frequency": Check(
            reference=_alias_frequency, cases=alias_cases, atol=1e-9,
            hint="After subsampling by s the sampling rate is 1/s per original pixel: the alias "
                 "of f is its distance to the nearest multiple of 1/s, |f − round(f·s)/s|.",
        ),
        "nyquist_after_stride": Check(
            reference=lambda: 1 / 6, atol=1e-6,
            hint="Sampling every s-th pixel gives 1/s samples per pixel; Nyquist is half: 1/(2s)."),
    }


__all__ = ["checks"]

"""The pathology practice's checks: references from the library, independent right answers
pass, and the plausible mistakes (log base, the + 1, the background, a transposed matrix, >
for >=, the forgotten edge tile) fail with a verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mednotes.course import CHECKS, check
from mednotes.course.checks_pathology import BACKGROUND, PIXEL

PATHOLOGY_CHECKS = ("optical_density_pixel", "deconvolve", "count_tissue_tiles")


def od_right():
    return [-math.log10((v + 1) / BACKGROUND) for v in PIXEL]


def deconvolve_right(density, matrix):
    return torch.as_tensor(np.linalg.solve(matrix.numpy().T, density.numpy().T).T)


def _starts(length, size):
    starts = list(range(0, length - size + 1, size))
    return starts + ([length - size] if starts[-1] != length - size else [])


def count_right(mask, size, min_tissue):
    m = mask.double().numpy()
    return sum(m[r:r + size, c:c + size].mean() >= min_tissue
               for r in _starts(m.shape[0], size) for c in _starts(m.shape[1], size))


RIGHT = [("optical_density_pixel", od_right()), ("optical_density_pixel", tuple(od_right())),
         ("deconvolve", deconvolve_right), ("count_tissue_tiles", count_right)]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_every_pathology_check_is_registered():
    assert set(PATHOLOGY_CHECKS) <= set(CHECKS)


def test_references_agree_with_the_hand_formulas():
    np.testing.assert_allclose(CHECKS["optical_density_pixel"].reference(), od_right(),
                               rtol=1e-12)
    for case in CHECKS["deconvolve"].cases:
        torch.testing.assert_close(CHECKS["deconvolve"].reference(*case), deconvolve_right(*case))
    for case in CHECKS["count_tissue_tiles"].cases:
        assert CHECKS["count_tissue_tiles"].reference(*case) == count_right(*case)


def test_tile_cases_separate_the_mistakes():
    """Some tile sits exactly at the threshold, and some side is not a multiple of the size."""
    cases = CHECKS["count_tissue_tiles"].cases
    assert any(count_right(*c) != count_strict(*c) for c in cases)
    assert any(count_right(*c) != count_no_edge(*c) for c in cases)


# ------------------------------------------------------------------ plausible mistakes


def count_strict(mask, size, min_tissue):       # > instead of >=
    m = mask.double().numpy()
    return sum(m[r:r + size, c:c + size].mean() > min_tissue
               for r in _starts(m.shape[0], size) for c in _starts(m.shape[1], size))


def count_no_edge(mask, size, min_tissue):      # forgot the tile flush with the edge
    m = mask.double().numpy()
    return sum(m[r:r + size, c:c + size].mean() >= min_tissue
               for r in range(0, m.shape[0] - size + 1, size)
               for c in range(0, m.shape[1] - size + 1, size))


def count_background(mask, size, min_tissue):   # counted the rejected tiles
    m = mask.double().numpy()
    return sum(m[r:r + size, c:c + size].mean() < min_tissue
               for r in _starts(m.shape[0], size) for c in _starts(m.shape[1], size))


def count_pixels(mask, size, min_tissue):       # tissue pixels, not tiles
    return int(mask.sum())


PLAUSIBLE_MISTAKES = [
    ("optical_density_pixel", [-math.log((v + 1) / BACKGROUND) for v in PIXEL], "natural log"),
    ("optical_density_pixel", [-math.log10(v / BACKGROUND) for v in PIXEL], "forgot the + 1"),
    ("optical_density_pixel", [-math.log10((v + 1) / 255) for v in PIXEL], "background 255"),
    ("optical_density_pixel", [math.log10((v + 1) / BACKGROUND) for v in PIXEL], "sign"),
    ("optical_density_pixel", [1 - (v + 1) / BACKGROUND for v in PIXEL], "absorbance, no log"),
    ("optical_density_pixel", [-math.log10(v + 1) for v in PIXEL], "no background"),
    ("deconvolve", lambda d, m: torch.as_tensor(np.linalg.solve(m.numpy(), d.numpy().T).T),
     "transposed matrix"),
    ("deconvolve", lambda d, m: d @ m, "multiplied instead of inverting"),
    ("deconvolve", lambda d, m: d @ torch.linalg.inv(m).T, "inverse transposed"),
    ("deconvolve", lambda d, m: d @ m.T, "projected on the stain vectors"),
    ("count_tissue_tiles", count_strict, "> instead of >="),
    ("count_tissue_tiles", count_no_edge, "forgot the edge tile"),
    ("count_tissue_tiles", count_background, "counted background tiles"),
    ("count_tissue_tiles", count_pixels, "counted pixels"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict = check(name, answer)
    out = capsys.readouterr().out
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out

"""The sliding-window practice's checks: the references are the library's, independent right
answers pass, and the plausible mistakes of each exercise fail with a verdict.

The generic tests in test_course.py (perturbed answers, stubs, typed decimals, no answer given
away, the student version) run over these checks too; this file adds the mistakes that are
specific to window counts, Gaussian weights, spacing and lesion counting.
"""

from __future__ import annotations

import math

import pytest
import torch

from mednotes.course import CHECKS, check
from mednotes.course.checks_neuroradiology import COUNT_CASES, GAUSS_CASES

NEURO_CHECKS = ("windows_by_hand", "count_windows", "gaussian_weights", "blended_value_by_hand",
                "hd_mm_by_hand", "lesion_f1_by_hand")

# ------------------------------------------------------------------------ right answers


def count_right(image, roi, overlap):
    """Windows per axis from the definition: starts 0, step, ... capped at size - roi."""
    total = 1
    for size, r in zip(image, roi):
        size = max(size, r)
        step = r if r == size else max(math.floor(r * (1 - overlap)), 1)
        starts = {min(k * step, size - r) for k in range(size)}
        total *= len(starts)
    return total


def gauss_right(roi, sigma_scale):
    sigma = sigma_scale * roi
    values = [math.exp(-((i - (roi - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(roi)]
    floor = max(min(values), 1e-3)
    return torch.tensor([max(v, floor) for v in values], dtype=torch.float64)


def _weight(d, sigma=1.0):
    return math.exp(-d * d / (2 * sigma * sigma))


BLENDED = (_weight(2) * 0.9 + _weight(1) * 0.2) / (_weight(2) + _weight(1))

RIGHT = [("windows_by_hand", 18), ("count_windows", count_right),
         ("gaussian_weights", gauss_right), ("blended_value_by_hand", BLENDED),
         ("blended_value_by_hand", round(BLENDED, 3)), ("hd_mm_by_hand", math.sqrt(15**2 + 4**2)),
         ("lesion_f1_by_hand", 1 / 7), ("lesion_f1_by_hand", 0.143)]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_every_neuroradiology_check_is_registered():
    assert set(NEURO_CHECKS) <= set(CHECKS)


def test_references_agree_with_the_definitions_on_every_case():
    for case in COUNT_CASES:
        assert CHECKS["count_windows"].reference(*case) == count_right(*case)
    for case in GAUSS_CASES:
        torch.testing.assert_close(CHECKS["gaussian_weights"].reference(*case),
                                   gauss_right(*case), rtol=1e-6, atol=1e-9)
    assert CHECKS["blended_value_by_hand"].reference() == pytest.approx(BLENDED, rel=1e-6)


def test_the_cases_exercise_every_rule():
    """A case padded, one with a window as long as nothing, one with the floor active, ..."""
    assert any(s < r for image, roi, _ in COUNT_CASES for s, r in zip(image, roi))
    assert any(o == 0.0 for _, _, o in COUNT_CASES)
    floor_active = [gauss_right(*c).min().item() == 1e-3 for c in GAUSS_CASES]
    assert any(floor_active) and not all(floor_active)


# ------------------------------------------------------------------------ plausible mistakes


def _ceil_division(image, roi, overlap):          # ceil(size / step) windows per axis
    total = 1
    for size, r in zip(image, roi):
        step = max(int(r * (1 - overlap)), 1)
        total *= max(math.ceil(max(size, r) / step), 1)
    return total


def _no_move_back(image, roi, overlap):           # only windows that fit from 0 on a step grid
    total = 1
    for size, r in zip(image, roi):
        size = max(size, r)
        step = max(int(r * (1 - overlap)), 1)
        total *= (size - r) // step + 1
    return total


def _step_is_overlap(image, roi, overlap):        # step = roi * overlap
    total = 1
    for size, r in zip(image, roi):
        size = max(size, r)
        step = max(int(r * overlap), 1)
        total *= len({min(k * step, size - r) for k in range(size)})
    return total


def _summed_axes(image, roi, overlap):            # added the per-axis counts
    total = 0
    for size, r in zip(image, roi):
        size = max(size, r)
        step = r if r == size else max(int(r * (1 - overlap)), 1)
        total += len({min(k * step, size - r) for k in range(size)})
    return total


def _gauss_no_floor(roi, sigma_scale):
    d = torch.arange(roi, dtype=torch.float64) - (roi - 1) / 2
    return torch.exp(-d**2 / (2 * (sigma_scale * roi) ** 2))


def _gauss_centre_at_half(roi, sigma_scale):      # centre at roi / 2, not (roi - 1) / 2
    d = torch.arange(roi, dtype=torch.float64) - roi / 2
    w = torch.exp(-d**2 / (2 * (sigma_scale * roi) ** 2))
    return w.clamp(min=max(w.min().item(), 1e-3))


def _gauss_sigma_is_scale(roi, sigma_scale):      # σ = sigma_scale, not sigma_scale · roi
    d = torch.arange(roi, dtype=torch.float64) - (roi - 1) / 2
    w = torch.exp(-d**2 / (2 * sigma_scale**2))
    return w.clamp(min=max(w.min().item(), 1e-3))


def _gauss_no_half(roi, sigma_scale):             # exp(−d²/σ²)
    d = torch.arange(roi, dtype=torch.float64) - (roi - 1) / 2
    w = torch.exp(-d**2 / (sigma_scale * roi) ** 2)
    return w.clamp(min=max(w.min().item(), 1e-3))


def _gauss_normalised(roi, sigma_scale):          # weights summing to 1
    w = gauss_right(roi, sigma_scale)
    return w / w.sum()


PLAUSIBLE_MISTAKES = [
    ("windows_by_hand", 2 * 4 * 4, "ceil(size / step) per axis, no moving back"),
    ("windows_by_hand", 1 * 2 * 2, "only windows that fit without moving back"),
    ("windows_by_hand", 2 + 3 + 3, "summed the axes"),
    ("windows_by_hand", 27, "three windows on every axis"),
    ("windows_by_hand", 2 * 2 * 2, "two per axis"),
    ("count_windows", _ceil_division, "ceil(size / step)"),
    ("count_windows", _no_move_back, "no moved-back last window"),
    ("count_windows", _step_is_overlap, "step = roi · overlap"),
    ("count_windows", _summed_axes, "summed the axes"),
    ("gaussian_weights", _gauss_no_floor, "forgot the floor"),
    ("gaussian_weights", _gauss_centre_at_half, "centre at roi / 2"),
    ("gaussian_weights", _gauss_sigma_is_scale, "σ = sigma_scale"),
    ("gaussian_weights", _gauss_no_half, "no factor 2 in the exponent"),
    ("gaussian_weights", _gauss_normalised, "normalised to sum 1"),
    ("blended_value_by_hand", (0.9 + 0.2) / 2, "the plain mean"),
    ("blended_value_by_hand", (_weight(1) * 0.9 + _weight(2) * 0.2) / (_weight(1) + _weight(2)),
     "swapped the windows' weights"),
    ("blended_value_by_hand", _weight(2) * 0.9 + _weight(1) * 0.2, "did not divide by the weights"),
    ("blended_value_by_hand", 0.2, "only the nearer window"),
    ("hd_mm_by_hand", 5.0, "in voxels"),
    ("hd_mm_by_hand", 3 * 5.0 + 4 * 1.0, "added the axes (city-block)"),
    ("hd_mm_by_hand", 5.0 * 5, "voxels times the slice spacing"),
    ("hd_mm_by_hand", math.hypot(3, 4 * 5.0), "spacing on the wrong axis"),
    ("hd_mm_by_hand", 15.0, "only the slice difference"),
    ("lesion_f1_by_hand", 2 * (1 / 13) * (1 / 2) / (1 / 13 + 1 / 2), "counted one lesion detected"),
    ("lesion_f1_by_hand", 1 / 13, "gave the precision"),
    ("lesion_f1_by_hand", 2 * (2 / 14) / (2 / 14 + 1), "two true positives for the blob"),
    ("lesion_f1_by_hand", 2 / 3, "the voxel Dice"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict = check(name, answer)
    out = capsys.readouterr().out
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out

"""The overlap explorer: its numbers against independent computations, its refusals, its twin."""

from itertools import pairwise

import numpy as np
import pytest
import scipy.ndimage
import torch

from mednotes import widgets
from mednotes.widgets.overlap import (
    MAX_LOGIT,
    _overlap_figure,
    default_target,
    overlap_scores,
    prediction_logits,
    signed_distance,
)


def _numpy_scores(logits: np.ndarray, truth: np.ndarray) -> dict:
    """The four numbers from their definitions, with numpy only: no mednotes involved."""
    p = 1 / (1 + np.exp(-logits))
    g = truth.astype(float)
    hard = logits > 0
    overlap = np.logical_and(hard, truth).sum()
    return {
        "cross-entropy": float(np.mean(-(g * np.log(p) + (1 - g) * np.log(1 - p)))),
        "soft Dice": float((2 * (p * g).sum() + 1e-5) / (p.sum() + g.sum() + 1e-5)),
        "Dice": 2 * overlap / (hard.sum() + truth.sum()),
        "IoU": overlap / np.logical_or(hard, truth).sum(),
    }


@pytest.mark.parametrize("shift, grow, softness", [((0, 0), 0, 1.0), ((2, -5), 0, 0.5),
                                                   ((0, 7), 2, 2.0), ((-3, 0), -3, 1.0)])
def test_scores_match_numpy(shift, grow, softness):
    truth = default_target().numpy()
    z = prediction_logits(signed_distance(truth), shift, grow, softness)
    got = overlap_scores(z, torch.from_numpy(truth))
    want = _numpy_scores(z.numpy(), truth)
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-6, abs=1e-9), name


def test_signed_distance_matches_scipy_and_its_zero_level_is_the_mask():
    rng = np.random.default_rng(0)
    mask = scipy.ndimage.binary_dilation(rng.random((30, 30)) > 0.97, iterations=2)
    d = signed_distance(mask)
    assert np.array_equal(d > 0, mask)
    inside = scipy.ndimage.distance_transform_edt(mask)
    outside = scipy.ndimage.distance_transform_edt(~mask)
    np.testing.assert_allclose(d[mask], inside[mask] - 0.5)
    np.testing.assert_allclose(d[~mask], -outside[~mask] + 0.5)


def test_prediction_moves_grows_and_saturates():
    truth = default_target()
    d = signed_distance(truth)
    base = prediction_logits(d) > 0
    assert torch.equal(base, truth)
    moved = prediction_logits(d, shift=(0, 3)) > 0
    assert torch.equal(moved[:, 3:], truth[:, :-3])
    assert (prediction_logits(d, grow=2) > 0).sum() > truth.sum() > (prediction_logits(d, grow=-2) > 0).sum()
    assert float(prediction_logits(d, softness=0.25).abs().max()) == MAX_LOGIT


def test_known_facts_hold_along_a_slide():
    truth = default_target()
    d = signed_distance(truth)
    rows = [overlap_scores(prediction_logits(d, (0, s)), truth) for s in range(0, 17, 2)]
    dice = [r["Dice"] for r in rows]
    assert dice[0] == 1.0 and dice[-1] == 0.0
    assert all(a >= b for a, b in pairwise(dice))          # sliding away never helps
    for r in rows:
        assert r["IoU"] == pytest.approx(r["Dice"] / (2 - r["Dice"]), abs=1e-6)
    ce = [r["cross-entropy"] for r in rows]
    assert ce[0] == min(ce)


def test_figure_titles_report_the_scores():
    truth = default_target()
    fig, update = _overlap_figure(truth, signed_distance(truth), np.zeros(truth.shape))
    scores = update(0, 5, 0.0, 1.0)
    assert fig.axes[0].get_title() == f"Dice {scores['Dice']:.2f}, IoU {scores['IoU']:.2f}"
    assert f"CE {scores['cross-entropy']:.3f}" in fig.axes[1].get_title()


def test_explorer_refuses_bad_input():
    with pytest.raises(ValueError, match="both foreground and background"):
        widgets.overlap_explorer(torch.zeros(20, 20, dtype=torch.bool))
    with pytest.raises(ValueError, match="2D mask"):
        widgets.overlap_explorer(torch.ones(2, 20, 20, dtype=torch.bool))
    with pytest.raises(ValueError, match="image has shape .* they must match"):
        widgets.overlap_explorer(default_target(), torch.zeros(40, 40))
    with pytest.raises(ValueError, match="softness must be"):
        widgets.overlap_explorer(softness=10.0)
    with pytest.raises(ValueError, match="path must hold 1 to 24 frames"):
        widgets.overlap_animation(path=[(0, 0)])
    with pytest.raises(ValueError, match="shifts must lie within"):
        widgets.overlap_animation(path=[(0, 40, 0)])
    with pytest.raises(ValueError, match="size must be an int >= 16"):
        default_target(8)


def test_explorer_redraws_and_static_twin_loads_nothing_from_the_network():
    box = widgets.overlap_explorer()
    right, *_, readout, picture = box.children
    before, text = bytes(picture.value), readout.value
    right.value = 4
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")
    assert readout.value != text and "Dice" in readout.value
    html = widgets.animation_html(widgets.overlap_animation(path=[(0, 0, 0), (0, 3, 1)]))
    assert "http://" not in html and "https://" not in html and "<img" in html

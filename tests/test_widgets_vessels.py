"""The vessel threshold explorer: its numbers against the metrics' definitions computed here,
its refusals, its redraw and its static twin."""

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.morphology import skeletonize

from mednotes.widgets import animation_html
from mednotes.widgets.vessels import (
    _vessel_figure,
    vessel_scores,
    vessel_threshold_animation,
    vessel_threshold_explorer,
)


@pytest.fixture(scope="module")
def case():
    """A small vessel tree, a blurred "probability" of it and a noisy "response"."""
    target = np.zeros((40, 40), bool)
    target[20, 3:37] = True
    target[8:20, 28] = True
    target[19:22, 3:15] = True
    rng = np.random.default_rng(0)
    prob = ndimage.gaussian_filter(target.astype(float), 1.0)
    prob = prob / prob.max()
    response = prob + 0.2 * rng.random(target.shape)
    image = 0.6 - 0.3 * target + 0.05 * rng.random(target.shape)
    return (torch.from_numpy(image), torch.from_numpy(target),
            {"U-Net": torch.from_numpy(prob), "Frangi": torch.from_numpy(response)})


def _numpy_scores(mask: np.ndarray, truth: np.ndarray) -> dict:
    """Dice and the clDice family from their definitions, with numpy and skimage only."""
    s_truth, s_mask = skeletonize(truth), skeletonize(mask)
    recall = (s_truth & mask).sum() / s_truth.sum()
    precision = (s_mask & truth).sum() / s_mask.sum() if mask.any() else 0.0
    return {"Dice": 2 * (mask & truth).sum() / (mask.sum() + truth.sum()),
            "clDice": 2 * recall * precision / (recall + precision) if recall + precision else 0,
            "skeleton recall": recall, "skeleton precision": precision}


@pytest.mark.parametrize("name, threshold", [("U-Net", 0.3), ("U-Net", 0.6), ("Frangi", 0.4),
                                             ("Frangi", 0.9)])
def test_scores_match_the_definitions(case, name, threshold):
    _, target, maps = case
    got = vessel_scores(maps[name], target, threshold)
    want = _numpy_scores(maps[name].numpy() > threshold, target.numpy())
    for key in want:
        assert got[key] == pytest.approx(float(want[key]), abs=1e-6), key


def test_figure_reports_the_scores_and_draws_the_curves(case):
    image, target, maps = case
    fig, update, grids = _vessel_figure(image.numpy(), target.numpy(),
                                        {k: v.numpy() for k, v in maps.items()}, {"U-Net": 0.5})
    scores = update("Frangi", 0.5)
    ax_map, ax_skel, ax_curve = fig.axes[:3]
    assert ax_map.get_title() == f"Frangi: Dice {scores['Dice']:.2f}"
    assert f"clDice {scores['clDice']:.2f}" in ax_skel.get_title()
    dice_line = next(line for line in ax_curve.get_lines() if line.get_label() == "Dice")
    np.testing.assert_allclose(dice_line.get_xdata(), grids["Frangi"])
    k = len(grids["Frangi"]) // 3
    want = vessel_scores(maps["Frangi"], target, float(grids["Frangi"][k]))["Dice"]
    assert dice_line.get_ydata()[k] == pytest.approx(want)
    # the operating point is marked only for the method that has one
    chosen = next(line for line in ax_curve.get_lines() if line.get_label() == "operating point")
    assert not chosen.get_visible()
    update("U-Net", 0.3)
    assert chosen.get_visible() and chosen.get_xdata()[0] == 0.5


def test_explorer_redraws_and_switches_method(case):
    image, target, maps = case
    box = vessel_threshold_explorer(image, target, maps, {"U-Net": 0.5, "Frangi": 0.7})
    method, slider, readout, picture = box.children
    assert slider.value == 0.5
    want = vessel_scores(maps["U-Net"], target, 0.5)
    assert readout.value.startswith(f"Dice {want['Dice']:.3f} · clDice {want['clDice']:.3f}")
    before = bytes(picture.value)
    method.value = "Frangi"
    assert slider.value == 0.7
    assert bytes(picture.value) != before and bytes(picture.value).startswith(b"\x89PNG")
    want = vessel_scores(maps["Frangi"], target, 0.7)
    assert readout.value.startswith(f"Dice {want['Dice']:.3f}")
    text = readout.value
    slider.value = slider.options[2][1]
    assert readout.value != text


def test_static_twin_has_the_frames_asked_for_and_loads_nothing(case):
    image, target, maps = case
    anim = vessel_threshold_animation(image, target, maps, {"U-Net": 0.5})
    html = animation_html(anim)
    assert "http://" not in html and "https://" not in html
    frames = anim._save_count if hasattr(anim, "_save_count") else None
    assert frames is None or 2 <= frames <= 24
    three = vessel_threshold_animation(image, target, maps,
                                       path=[("U-Net", 0.2), ("Frangi", 0.5), ("U-Net", 0.8)])
    html = three.to_jshtml()
    assert html.count("frames[2]") == 1 and html.count("frames[3]") == 0


def test_bad_input_is_refused_with_the_argument_named(case):
    image, target, maps = case
    with pytest.raises(TypeError, match="maps must be a non-empty dict"):
        vessel_threshold_explorer(image, target, maps["U-Net"])
    with pytest.raises(TypeError, match="maps must be a non-empty dict"):
        vessel_threshold_explorer(image, target, {})
    with pytest.raises(ValueError, match="vessel_map must be a 2D map"):
        vessel_threshold_explorer(image, target, {"x": maps["U-Net"][None]})
    with pytest.raises(ValueError, match="target has shape .* they must match"):
        vessel_scores(maps["U-Net"], target[:20], 0.5)
    with pytest.raises(ValueError, match="target must hold at least one vessel"):
        vessel_scores(maps["U-Net"], torch.zeros_like(target), 0.5)
    with pytest.raises(ValueError, match="target must be a bool mask or hold only 0 and 1"):
        vessel_scores(maps["U-Net"], 2 * target.long(), 0.5)
    with pytest.raises(ValueError, match="vessel_map holds NaN"):
        vessel_scores(torch.full((40, 40), float("nan")), target, 0.5)
    with pytest.raises(ValueError, match="threshold must be finite"):
        vessel_scores(maps["U-Net"], target, float("nan"))
    with pytest.raises(TypeError, match="target must be a tensor or an array"):
        vessel_scores(maps["U-Net"], [[1]], 0.5)
    with pytest.raises(ValueError, match="operating_points must be a dict whose keys"):
        vessel_threshold_explorer(image, target, maps, {"Otsu": 0.5})
    with pytest.raises(TypeError, match=r"operating_points\['U-Net'\] must be a real number"):
        vessel_threshold_explorer(image, target, maps, {"U-Net": "0.5"})
    with pytest.raises(ValueError, match="image has shape"):
        vessel_threshold_explorer(image[:10], target, maps)
    with pytest.raises(ValueError, match="path must hold 1 to 24 frames"):
        vessel_threshold_animation(image, target, maps, path=[])
    with pytest.raises(ValueError, match="each frame of path must be"):
        vessel_threshold_animation(image, target, maps, path=[("Otsu", 0.5)])
    with pytest.raises(ValueError, match="interval_ms must be a positive int"):
        vessel_threshold_animation(image, target, maps, interval_ms=0)

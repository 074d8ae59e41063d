"""mednotes.metrics.topology against a reference written here with numpy and scikit-image,
hand cases whose answer is known (a thin line predicted as a thick band, a gap in a vessel, a
spurious branch), the empty-mask rules, 3-D masks, CPU and (when present) CUDA, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import DEVICES
from scipy import ndimage
from skimage.morphology import skeletonize

from mednotes.data import retinal_vessels
from mednotes.metrics import dice_score
from mednotes.metrics.topology import (
    cl_dice,
    skeleton,
    skeleton_precision,
    skeleton_recall,
)


def reference(pred: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(recall, precision, clDice) of one pair of non-empty 2-D/3-D bool masks, from the
    definitions of Shit et al. (2021) with skimage's skeletonize: no mednotes involved."""
    s_target, s_pred = skeletonize(target), skeletonize(pred)
    recall = np.logical_and(s_target, pred).sum() / s_target.sum()
    precision = np.logical_and(s_pred, target).sum() / s_pred.sum()
    both = recall + precision
    return recall, precision, (2 * recall * precision / both if both else 0.0)


def line_and_band(length=40, width=5):
    """A one-pixel-wide horizontal line and a band ``width`` pixels thick around it."""
    line = torch.zeros(1, 1, 21, length + 4, dtype=torch.bool)
    line[0, 0, 10, 2:length + 2] = True
    band = torch.zeros_like(line)
    band[0, 0, 10 - width // 2:10 + width // 2 + 1, 2:length + 2] = True
    return line, band


@pytest.fixture(scope="module")
def vessel_masks():
    """Real vessel trees of retinal_vessels and distorted predictions of them."""
    ds = retinal_vessels(4, size=96, seed=3)
    target = torch.stack([ds[i][1] for i in range(4)]) == 1
    rng = np.random.default_rng(0)
    preds = []
    for i, t in enumerate(target.numpy()):
        p = t.copy()
        if i == 0:
            p = ndimage.binary_dilation(p)
        elif i == 1:
            p = ndimage.binary_erosion(p)
        elif i == 2:
            p = p ^ (rng.random(p.shape) < 0.03)
        else:
            p = np.roll(p, 1, axis=1)
        preds.append(p)
    return torch.from_numpy(np.stack(preds))[:, None], target[:, None]


@pytest.mark.parametrize("device", DEVICES)
def test_matches_the_numpy_skimage_reference_on_vessel_trees(vessel_masks, device):
    pred, target = (m.to(device) for m in vessel_masks)
    got = {f.__name__: f(pred, target) for f in (skeleton_recall, skeleton_precision, cl_dice)}
    for name, values in got.items():
        assert values.shape == (4, 1) and values.dtype == torch.float32
        assert values.device.type == torch.device(device).type, name
    for n in range(4):
        recall, precision, cl = reference(vessel_masks[0][n, 0].numpy(),
                                          vessel_masks[1][n, 0].numpy())
        assert got["skeleton_recall"][n, 0].item() == pytest.approx(recall, abs=1e-6)
        assert got["skeleton_precision"][n, 0].item() == pytest.approx(precision, abs=1e-6)
        assert got["cl_dice"][n, 0].item() == pytest.approx(cl, abs=1e-6)
    # a dilated prediction covers the whole skeleton; an eroded one loses the thin vessels
    assert got["skeleton_recall"][0, 0] == 1.0
    assert got["skeleton_recall"][1, 0] < 0.8


def test_class_indices_give_the_same_scores_as_bool_masks(vessel_masks):
    pred, target = vessel_masks
    as_bool = cl_dice(pred, target)
    as_index = cl_dice(pred[:, 0].long(), target[:, 0].long(), num_classes=2,
                       include_background=False)
    torch.testing.assert_close(as_index, as_bool)
    both = skeleton_recall(pred[:, 0].long(), target[:, 0].long(), num_classes=2)
    assert both.shape == (4, 2)
    torch.testing.assert_close(both[:, 1:], skeleton_recall(pred, target))


def test_a_thick_band_over_a_thin_line_keeps_clDice_and_recall_but_not_Dice():
    line, band = line_and_band()
    assert skeleton_recall(band, line).item() == 1.0
    assert dice_score(band, line).item() == pytest.approx(2 * 40 / (40 + 200))
    assert cl_dice(band, line).item() > 0.95  # only the band's corner spur falls outside
    assert dice_score(band, line).item() < 0.4
    # the other way round: the thin prediction of a thick band covers its centre line
    assert skeleton_recall(line, band).item() > 0.9   # all but the spurs at the corners
    assert skeleton_precision(line, band).item() == 1.0


def tree():
    """A trunk 7 pixels wide and 40 long, and a branch 1 pixel wide and 30 long leaving it."""
    vessel = np.zeros((40, 90), bool)
    vessel[17:24, 5:45] = True
    vessel[20, 45:75] = True
    return torch.from_numpy(vessel)[None, None]


def test_a_gap_in_a_thin_branch_lowers_clDice_much_more_than_Dice():
    target = tree()
    gapped = target.clone()
    gapped[0, 0, 20, 55:58] = False                 # 3 pixels cut out of the thin branch
    dice_drop = 1 - dice_score(gapped, target).item()
    cl_drop = 1 - cl_dice(gapped, target).item()
    assert dice_drop == pytest.approx(3 / (2 * 310 - 3), rel=1e-5)  # float32 metric
    assert cl_drop > 3 * dice_drop                  # the branch's length counts, not its pixels
    # the same 3 pixels taken from the thick trunk's edge cost Dice the same and clDice nothing
    trimmed = target.clone()
    trimmed[0, 0, 17, 20:23] = False
    assert dice_score(trimmed, target).item() == pytest.approx(dice_score(gapped, target).item())
    assert cl_dice(trimmed, target).item() == 1.0
    # missing the whole thin branch: Dice hardly notices, skeleton recall loses its length
    no_branch = target.clone()
    no_branch[0, 0, 20, 45:75] = False
    assert dice_score(no_branch, target).item() > 0.94
    assert skeleton_recall(no_branch, target).item() < 0.65


def test_in_a_vessel_of_one_width_a_gap_costs_both_alike():
    """clDice weighs vessels by length, not connectivity: in a uniform vessel a gap of g
    pixels costs Dice and clDice about the same (both near g / 2L)."""
    line, _ = line_and_band(length=40)
    gapped = line.clone()
    gapped[..., 20:24] = False                     # 4 of 40 pixels missing
    assert dice_score(gapped, line).item() == pytest.approx(2 * 36 / 76, rel=1e-6)
    assert skeleton_recall(gapped, line).item() == pytest.approx(36 / 40)
    assert cl_dice(gapped, line).item() == pytest.approx(dice_score(gapped, line).item(), abs=0.01)


def test_a_spurious_branch_costs_precision_not_recall():
    line, _ = line_and_band()
    spur = line.clone()
    spur[0, 0, 0:10, 20] = True
    assert skeleton_recall(spur, line).item() == 1.0
    assert skeleton_precision(spur, line).item() == pytest.approx(40 / 50, abs=0.03)


def test_empty_masks_follow_the_ground_truth_as_dice_does():
    empty = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    some = empty.clone()
    some[0, 0, 4, 1:7] = True
    for f in (skeleton_recall, skeleton_precision, cl_dice):
        assert torch.isnan(f(empty, empty)).all(), f.__name__
        assert torch.isnan(f(some, empty)).all(), f.__name__
        assert f(empty, empty, ignore_empty=False).item() == 1.0
        assert f(some, empty, ignore_empty=False).item() == 0.0
        assert f(empty, some).item() == 0.0         # nothing found
        assert f(empty, some, ignore_empty=False).item() == 0.0
        # the same NaN/1/0 pattern as dice_score
        for p, t in ((empty, empty), (some, empty), (empty, some)):
            for ignore in (True, False):
                d = dice_score(p, t, ignore_empty=ignore)
                got = f(p, t, ignore_empty=ignore)
                assert torch.equal(torch.isnan(got), torch.isnan(d))
                assert torch.equal(got.nan_to_num(-1), d.nan_to_num(-1))


def test_a_mask_without_a_skeleton_is_its_own_skeleton():
    cube = np.zeros((4, 4, 4), bool)
    cube[1:3, 1:3, 1:3] = True
    assert not skeletonize(cube).any()      # scikit-image gives nothing: 0 / 0 otherwise
    assert np.array_equal(skeleton(cube), cube)
    t = torch.from_numpy(cube)[None, None]
    assert cl_dice(t, t).item() == 1.0


def test_3d_masks_match_the_reference():
    g = np.zeros((12, 20, 20), bool)
    g[4:7, 3:17, 8:11] = True               # a tube along one axis
    g[5, 10, 8:18] = True
    p = ndimage.binary_dilation(g)
    p[:, 9:11] = False                      # a cut across the tube
    got = torch.stack([f(torch.from_numpy(p)[None, None], torch.from_numpy(g)[None, None])
                       for f in (skeleton_recall, skeleton_precision, cl_dice)]).flatten()
    np.testing.assert_allclose(got.numpy(), reference(p, g), atol=1e-6)


def test_skeleton_matches_skimage_and_accepts_tensors():
    rng = np.random.default_rng(1)
    mask = ndimage.binary_dilation(rng.random((30, 30)) > 0.95, iterations=2)
    assert np.array_equal(skeleton(mask), skeletonize(mask))
    assert np.array_equal(skeleton(torch.from_numpy(mask)), skeletonize(mask))
    assert not skeleton(np.zeros((5, 5), bool)).any()


def test_bad_input_is_refused_with_the_argument_named():
    line, band = line_and_band()
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        cl_dice(band.numpy(), line)
    with pytest.raises(ValueError, match="pred has shape .* target has shape"):
        cl_dice(band[..., :10], line)
    with pytest.raises(TypeError, match="pred has dtype torch.float32"):
        skeleton_recall(band.float(), line)
    with pytest.raises(TypeError, match="ignore_empty must be True or False"):
        skeleton_recall(band, line, ignore_empty=1)
    with pytest.raises(TypeError, match="include_background must be True or False"):
        skeleton_precision(band, line, include_background="no")
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        cl_dice(band[:, 0].long(), line[:, 0].long(), num_classes=0)
    with pytest.raises(ValueError, match="2 or 3 spatial dims"):
        cl_dice(torch.zeros(1, 1, 2, 2, 2, 2, dtype=torch.bool),
                torch.zeros(1, 1, 2, 2, 2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="add the channel dim"):
        cl_dice(band[0], line[0])
    with pytest.raises(TypeError, match="mask must be a bool array"):
        skeleton(np.ones((4, 4)))
    with pytest.raises(ValueError, match="mask must have 2 or 3 dims"):
        skeleton(np.ones(4, bool))

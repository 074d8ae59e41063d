"""mednotes.metrics against independent references: MONAI's compute_dice, compute_iou,
do_metric_reduction and compute_hausdorff_distance; scipy's binary_erosion and
distance_transform_edt (with anisotropic sampling); a direct numpy ECE; cases whose answer is
known (empty masks, calibrated and overconfident predictions); CPU and, when present, CUDA."""

from __future__ import annotations

import itertools
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F
from conftest import DEVICES

from mednotes.metrics import (
    calibration_bins,
    dice_score,
    expected_calibration_error,
    hausdorff_distance,
    iou_score,
    mean_score,
)
from mednotes.metrics.distance import surface
from mednotes.viz import reliability_diagram

monai_metrics = pytest.importorskip("monai.metrics")

NAN = float("nan")


pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def masks(shape, *, classes=3, seed=0):
    """Index masks (prediction, truth) of N=4 images with every empty-mask combination for
    class 2: image 0 in both, image 1 in neither, image 2 only predicted, image 3 only true."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.randint(0, classes, (4, *shape), generator=g)
    pred = torch.where(torch.rand(truth.shape, generator=g) < 0.7, truth,
                       torch.randint(0, classes, truth.shape, generator=g))
    for image, (in_pred, in_truth) in enumerate([(True, True), (False, False), (True, False),
                                                 (False, True)]):
        if not in_pred:
            pred[image][pred[image] == 2] = 0
        if not in_truth:
            truth[image][truth[image] == 2] = 0
    return pred, truth


def onehot(index, classes=3):
    return F.one_hot(index, classes).movedim(-1, 1).bool()


def assert_same_with_nans(ours, theirs, tol, what):
    ours, theirs = ours.cpu().double(), theirs.cpu().double()
    assert ours.shape == theirs.shape, f"{what}: {ours.shape} vs {theirs.shape}"
    assert torch.equal(ours.isnan(), theirs.isnan()), f"{what}: NaNs differ\n{ours}\n{theirs}"
    assert torch.equal(ours.isinf(), theirs.isinf()), f"{what}: infs differ\n{ours}\n{theirs}"
    finite = ours.isfinite()
    diff = (ours[finite] - theirs[finite]).abs().max().item() if finite.any() else 0.0
    assert diff <= tol, f"{what}: max |diff| {diff:.3g}"


# ---------------------------------------------------------------------- Dice and IoU


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(6, 7), (3, 4, 5)], ids=["2d", "3d"])
@pytest.mark.parametrize("metric,reference", [(dice_score, "compute_dice"),
                                              (iou_score, "compute_iou")],
                         ids=["dice", "iou"])
def test_overlap_matches_monai_with_every_empty_case(device, shape, metric, reference):
    pred, truth = (m.to(device) for m in masks(shape))
    monai = getattr(monai_metrics, reference)
    for background, ignore_empty in itertools.product([True, False], [True, False]):
        options = {"include_background": background, "ignore_empty": ignore_empty}
        theirs = monai(onehot(pred).float(), onehot(truth).float(), **options)
        from_index = metric(pred, truth, num_classes=3, **options)
        from_onehot = metric(onehot(pred), onehot(truth), **options)
        assert from_index.dtype == torch.float32 and from_index.device == pred.device
        assert_same_with_nans(from_index, theirs, 1e-6, f"{metric.__name__} index {options}")
        assert_same_with_nans(from_onehot, theirs, 1e-6, f"{metric.__name__} onehot {options}")


def test_empty_masks_follow_monais_rules():
    """Class 2 (column): both present, neither, only predicted, only true (rows)."""
    pred, truth = masks((6, 7))
    lesion = dice_score(pred, truth, num_classes=3)[:, 2]
    assert lesion[0] > 0 and lesion[1].isnan() and lesion[2].isnan() and lesion[3] == 0
    lesion = dice_score(pred, truth, num_classes=3, ignore_empty=False)[:, 2]
    assert lesion[1] == 1 and lesion[2] == 0 and lesion[3] == 0


def test_dice_and_iou_of_a_hand_computed_case():
    truth = torch.tensor([[[[1, 1, 1, 1, 0, 0]]]], dtype=torch.bool)
    pred = torch.tensor([[[[0, 1, 1, 1, 1, 1]]]], dtype=torch.bool)
    # |P ∩ G| = 3, |P| = 5, |G| = 4
    assert torch.allclose(dice_score(pred, truth), torch.tensor([[6 / 9]]))
    assert torch.allclose(iou_score(pred, truth), torch.tensor([[3 / 6]]))


def test_mean_score_matches_monai_reduction():
    scores = torch.tensor([[0.9, NAN, 0.5], [NAN, NAN, NAN], [0.2, 0.4, NAN], [1.0, 0.0, 0.3]])
    for reduction, shape in (("mean", ()), ("mean_batch", (3,)), ("mean_channel", (4,))):
        ours = mean_score(scores, reduction)
        theirs, _ = monai_metrics.utils.do_metric_reduction(scores.clone(), reduction)
        assert ours.shape == shape
        if reduction == "mean_channel":  # MONAI: 0 for the all-NaN image, ours: NaN
            assert ours[1].isnan() and theirs[1] == 0
            ours, theirs = ours[[0, 2, 3]], theirs[[0, 2, 3]]
        assert_same_with_nans(ours, theirs.reshape(ours.shape), 1e-6, reduction)
    assert mean_score(torch.full((2, 2), NAN)).isnan()


# --------------------------------------------------------------------- Hausdorff


def blobs(shape, n, seed):
    """Smooth random shapes: outlines with curvature, holes and several parts."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, *shape))
    return scipy.ndimage.gaussian_filter(noise, (0,) + (1.5,) * len(shape)) > 0.05


def scipy_hausdorff(pred, truth, spacing, percentile):
    """The reference: outlines by scipy's erosion, distances by its exact EDT."""
    edge_p = pred & ~scipy.ndimage.binary_erosion(pred)
    edge_t = truth & ~scipy.ndimage.binary_erosion(truth)
    to_truth = scipy.ndimage.distance_transform_edt(~edge_t, sampling=spacing)[edge_p]
    to_pred = scipy.ndimage.distance_transform_edt(~edge_p, sampling=spacing)[edge_t]
    return max(np.percentile(to_truth, percentile), np.percentile(to_pred, percentile))


CASES = {"2d": ((20, 26), (1.0, 2.5)), "3d": ((10, 14, 12), (1.0, 1.0, 5.0))}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dims", sorted(CASES))
@pytest.mark.parametrize("percentile", [95.0, 100.0, 50.0])
def test_hausdorff_matches_scipy_and_monai_with_anisotropic_spacing(device, dims, percentile):
    shape, spacing = CASES[dims]
    truth = blobs(shape, 3, seed=1)
    pred = blobs(shape, 3, seed=2) | (truth & (np.random.default_rng(3).random(truth.shape)
                                               > 0.3))
    p, t = torch.from_numpy(pred)[:, None].to(device), torch.from_numpy(truth)[:, None].to(device)
    ours = hausdorff_distance(p, t, percentile=percentile, spacing=spacing)
    reference = torch.tensor([[scipy_hausdorff(pred[i], truth[i], spacing, percentile)]
                              for i in range(3)])
    assert_same_with_nans(ours, reference, 1e-4, "vs scipy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monai = monai_metrics.compute_hausdorff_distance(
            p.cpu(), t.cpu(), include_background=True, spacing=spacing,
            percentile=None if percentile == 100 else percentile)
    assert_same_with_nans(ours, monai, 1e-4, "vs MONAI")
    if percentile >= 95:  # the spacing matters: the isotropic answer is different
        assert (hausdorff_distance(p, t, percentile=percentile) - ours).abs().max() > 0.1


def test_hausdorff_of_empty_masks():
    """Both empty: NaN (nothing to measure). One empty: inf, for every percentile; MONAI gives
    inf for the maximum and NaN for a percentile (it interpolates between infinities)."""
    empty = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    full = empty.clone()
    full[..., 2:4, 2:4] = True
    assert hausdorff_distance(empty, empty).isnan().all()
    for q in (95.0, 100.0):
        assert hausdorff_distance(full, empty, percentile=q).isinf().all()
        assert hausdorff_distance(empty, full, percentile=q).isinf().all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monai = monai_metrics.compute_hausdorff_distance
        assert monai(empty, empty, include_background=True).isnan().all()
        assert monai(full, empty, include_background=True).isinf().all()


def test_hausdorff_with_class_indices_and_background_dropped():
    pred, truth = masks((8, 9))
    by_index = hausdorff_distance(pred, truth, num_classes=3, include_background=False)
    by_masks = hausdorff_distance(onehot(pred), onehot(truth))[:, 1:]
    assert_same_with_nans(by_index, by_masks, 0.0, "index vs one-hot")
    assert by_index.shape == (4, 2)


@pytest.mark.parametrize("device", DEVICES)
def test_surface_matches_scipy_erosion(device):
    for shape in [(9, 11), (5, 6, 7), (1, 5)]:
        mask = blobs(shape, 1, seed=4)[0]
        expected = mask & ~scipy.ndimage.binary_erosion(mask)
        ours = surface(torch.from_numpy(mask).to(device)).cpu().numpy()
        assert np.array_equal(ours, expected), shape


# ------------------------------------------------------------------------ calibration


def numpy_ece(probs, labels, n_bins):
    """Straight from the definition, written independently with np.digitize."""
    confidence, prediction = probs.max(1), probs.argmax(1)
    correct = prediction == labels
    which = np.digitize(confidence, np.linspace(0, 1, n_bins + 1)[1:-1], right=True)
    ece = 0.0
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return ece


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_ece_matches_numpy(device, n_bins):
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((2, 4, 16, 16)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 4, (2, 16, 16))
    expected = numpy_ece(np.moveaxis(probs, 1, -1).reshape(-1, 4), labels.reshape(-1), n_bins)
    ours = expected_calibration_error(torch.from_numpy(probs).to(device),
                                      torch.from_numpy(labels).to(device), n_bins)
    assert ours.dtype == torch.float32 and abs(float(ours) - expected) < 1e-6


def test_ece_of_known_cases():
    rng = np.random.default_rng(6)
    n = 100_000
    confidence = rng.uniform(0.5, 1.0, n)
    right = rng.random(n) < confidence  # right exactly as often as claimed
    probs = torch.from_numpy(np.stack([confidence, 1 - confidence], 1))
    labels = torch.from_numpy(np.where(right, 0, 1))
    assert float(expected_calibration_error(probs, labels)) < 0.01
    always_wrong = torch.tensor([[0.99, 0.01]]).repeat(1000, 1)
    assert abs(float(expected_calibration_error(always_wrong, torch.ones(1000).long()))
               - 0.99) < 1e-6
    # one channel: the foreground probability, as from a sigmoid
    fg = torch.from_numpy(1 - confidence)[:, None]
    assert abs(float(expected_calibration_error(fg, labels)) -
               float(expected_calibration_error(probs, labels))) < 1e-6


def test_calibration_bins_are_closed_on_the_right():
    """0.6 sits on an edge of 5 bins: it belongs to (0.4, 0.6], as np.digitize(right=True)."""
    probs = torch.tensor([[0.6, 0.4], [0.61, 0.39], [1.0, 0.0]], dtype=torch.float64)
    bins = calibration_bins(probs, torch.tensor([0, 1, 0]), n_bins=5)
    assert bins.count.tolist() == [0, 0, 1, 1, 1]
    assert bins.accuracy[3] == 0 and bins.accuracy[4] == 1 and bins.accuracy[0].isnan()
    assert torch.allclose(bins.edges, torch.linspace(0, 1, 6, dtype=torch.float64))


def test_one_hot_targets_give_the_same_calibration():
    probs = torch.rand(3, 3, 5, 5).softmax(1)
    labels = torch.randint(0, 3, (3, 5, 5))
    assert expected_calibration_error(probs, labels) == expected_calibration_error(
        probs, onehot(labels))


def test_reliability_diagram_draws_the_bins_and_returns_the_ece():
    rng = np.random.default_rng(7)
    confidence = rng.uniform(0.5, 1.0, 2000)
    probs = torch.from_numpy(np.stack([confidence, 1 - confidence], 1))
    labels = torch.from_numpy((rng.random(2000) < 0.6).astype(np.int64) ^ 1)
    fig, ax = plt.subplots()
    try:
        ece = reliability_diagram(ax, probs, labels, n_bins=10, title="overconfident")
        assert ece == pytest.approx(float(expected_calibration_error(probs, labels, 10)))
        bars = [p for p in ax.patches if p.get_height() > 0]
        assert 5 <= len(bars) <= 10 * 2  # the bins above 0.5, their accuracy and gap bars
        assert ax.get_xlabel() == "confidence" and ax.get_ylabel() == "accuracy"
        assert any("ECE" in text.get_text() for text in ax.get_legend().get_texts())
    finally:
        plt.close(fig)

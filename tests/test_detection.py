"""mednotes.metrics.detection against an independent implementation (skimage.measure.label and
explicit sets of voxel coordinates), hand-built masks with known counts, the empty cases, and
bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import DEVICES
from scipy import ndimage

from mednotes.metrics.detection import LesionDetection, lesion_detection

measure = pytest.importorskip("skimage.measure")


def reference(pred: np.ndarray, target: np.ndarray, connectivity: int, threshold: float):
    """(tp, fp, detected, fn) of one image, written from the definition with sets."""
    def components(mask):
        labels = measure.label(mask, connectivity=connectivity)
        return [set(map(tuple, np.argwhere(labels == k))) for k in range(1, labels.max() + 1)]

    predicted, lesions = components(pred), components(target)

    def matches(a, b):
        shared = len(a & b)
        return shared > 0 and shared / len(a | b) > threshold

    tp = sum(any(matches(p, t) for t in lesions) for p in predicted)
    detected = sum(any(matches(p, t) for p in predicted) for t in lesions)
    return tp, len(predicted) - tp, detected, len(lesions) - detected


def random_masks(shape, seed, density):
    """Blobby random masks: smoothed noise, thresholded, so there are several components."""
    rng = np.random.default_rng(seed)
    def one():
        field = ndimage.gaussian_filter(rng.standard_normal(shape), 1.2)
        return field > np.quantile(field, 1 - density)
    return one(), one()


@pytest.mark.parametrize("shape", [(24, 24), (12, 14, 10)])
@pytest.mark.parametrize("connectivity", [1, "full"])
@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5])
def test_counts_match_an_independent_implementation(shape, connectivity, threshold):
    dims = len(shape)
    conn = dims if connectivity == "full" else connectivity
    preds, targets, expected = [], [], []
    for seed in range(6):
        p, t = random_masks(shape, seed, density=0.08 + 0.02 * seed)
        preds.append(p)
        targets.append(t)
        expected.append(reference(p, t, conn, threshold))
    result = lesion_detection(torch.from_numpy(np.stack(preds)), torch.from_numpy(np.stack(targets)),
                              connectivity=conn, iou_threshold=threshold)
    got = torch.stack([result.tp, result.fp, result.detected, result.fn], 1).tolist()
    assert got == [list(e) for e in expected]
    assert sum(e[0] + e[1] for e in expected) > 10          # the cases hold many components
    for k, (tp, fp, det, fn) in enumerate(expected):
        precision = tp / (tp + fp) if tp + fp else math.nan
        recall = det / (det + fn) if det + fn else math.nan
        assert result.precision[k].item() == pytest.approx(precision, nan_ok=True)
        assert result.recall[k].item() == pytest.approx(recall, nan_ok=True)


def test_hand_built_2d_case():
    target = torch.zeros(1, 12, 12, dtype=torch.bool)
    target[0, 1:3, 1:3] = True          # lesion A, found
    target[0, 1:3, 8:10] = True         # lesion B, found by a prediction that merges it with C
    target[0, 4:6, 8:10] = True         # lesion C
    target[0, 9:11, 1:3] = True         # lesion D, missed
    pred = torch.zeros_like(target)
    pred[0, 2:4, 2:4] = True            # overlaps A by one pixel (IoU 1/7)
    pred[0, 1:6, 8:10] = True           # covers B and C and the gap between them
    pred[0, 10, 10] = True              # a false alarm
    r = lesion_detection(pred, target)
    assert (r.tp.item(), r.fp.item(), r.detected.item(), r.fn.item()) == (2, 1, 3, 1)
    assert r.precision.item() == pytest.approx(2 / 3)
    assert r.recall.item() == pytest.approx(3 / 4)
    assert r.f1.item() == pytest.approx(2 * (2 / 3) * (3 / 4) / (2 / 3 + 3 / 4))
    # IoU above 0.3: the one-pixel overlap (1/7) no longer counts; the merged piece (10
    # pixels) still matches B and C, each with IoU 4/10
    strict = lesion_detection(pred, target, iou_threshold=0.3)
    assert (strict.tp.item(), strict.fp.item(), strict.detected.item(), strict.fn.item()) == (
        1, 2, 2, 2)
    # above 0.45 the merged piece matches neither lesion: nothing is found
    stricter = lesion_detection(pred, target, iou_threshold=0.45)
    assert (stricter.tp.item(), stricter.fp.item(), stricter.detected.item(),
            stricter.fn.item()) == (0, 3, 0, 4)
    assert stricter.f1.item() == 0.0


def test_connectivity_decides_whether_diagonal_pixels_are_one_lesion():
    target = torch.zeros(1, 6, 6, dtype=torch.bool)
    target[0, 1, 1] = target[0, 2, 2] = True    # touching only at a corner
    pred = target.clone()
    assert lesion_detection(pred, target).detected.item() == 1                 # 8-connected
    assert lesion_detection(pred, target, connectivity=1).detected.item() == 2  # 4-connected


def test_3d_lesion_split_across_slices_is_one_component():
    target = torch.zeros(1, 5, 6, 6, dtype=torch.bool)
    target[0, 1:4, 2:4, 2:4] = True             # one lesion through three slices
    pred = torch.zeros_like(target)
    pred[0, 1, 2:4, 2:4] = True                 # found on its first slice only
    pred[0, 3, 2:4, 2:4] = True                 # and on its last: two predicted pieces
    r = lesion_detection(pred, target)
    assert (r.tp.item(), r.fp.item(), r.detected.item(), r.fn.item()) == (2, 0, 1, 0)
    assert r.f1.item() == 1.0


def test_empty_cases():
    empty = torch.zeros(1, 8, 8, dtype=torch.bool)
    lesion = empty.clone()
    lesion[0, 2:4, 2:4] = True
    both = lesion_detection(empty, empty)
    assert math.isnan(both.precision.item()) and math.isnan(both.recall.item())
    assert math.isnan(both.f1.item())
    missed = lesion_detection(empty, lesion)
    assert math.isnan(missed.precision.item()) and missed.recall.item() == 0.0
    assert missed.f1.item() == 0.0
    alarm = lesion_detection(lesion, empty)
    assert alarm.precision.item() == 0.0 and math.isnan(alarm.recall.item())
    assert alarm.f1.item() == 0.0


def test_pooled_sums_counts_then_scores():
    counts = [torch.tensor(v) for v in ([3, 0, 1], [1, 2, 0], [2, 0, 1], [1, 0, 0])]
    r = LesionDetection.from_counts(*counts)
    pooled = r.pooled()
    assert (pooled.tp.item(), pooled.fp.item(), pooled.detected.item(), pooled.fn.item()) == (
        4, 3, 3, 1)
    p, rec = 4 / 7, 3 / 4
    assert pooled.f1.item() == pytest.approx(2 * p * rec / (p + rec))
    assert set(r.as_dict()) == {"tp", "fp", "detected", "fn", "precision", "recall", "f1"}


@pytest.mark.parametrize("device", DEVICES)
def test_results_come_back_on_the_masks_device(device):
    p, t = random_masks((2, 16, 16), 0, 0.1)
    r = lesion_detection(torch.from_numpy(p).to(device), torch.from_numpy(t).to(device))
    assert r.tp.device.type == device and r.f1.device.type == device
    assert r.tp.dtype == torch.int64 and r.f1.dtype == torch.float32


def test_bad_input_is_refused_with_the_argument_named():
    mask = torch.zeros(2, 8, 8, dtype=torch.bool)
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        lesion_detection(mask.numpy(), mask)
    with pytest.raises(TypeError, match="target has dtype torch.int64; expected a bool"):
        lesion_detection(mask, mask.long())
    with pytest.raises(TypeError, match="pred has dtype torch.float32"):
        lesion_detection(mask.float(), mask)
    with pytest.raises(ValueError, match=r"pred must be a batch of bool masks"):
        lesion_detection(mask[0], mask[0])
    with pytest.raises(ValueError, match="pred has shape .* target has shape"):
        lesion_detection(mask, mask[:1])
    with pytest.raises(ValueError, match="connectivity must be an int between 1 and 2"):
        lesion_detection(mask, mask, connectivity=3)
    with pytest.raises(TypeError, match="connectivity must be an int"):
        lesion_detection(mask, mask, connectivity=1.0)
    with pytest.raises(ValueError, match=r"iou_threshold must be in \[0.0, 1.0\)"):
        lesion_detection(mask, mask, iou_threshold=1.0)
    with pytest.raises(ValueError, match="iou_threshold must be finite"):
        lesion_detection(mask, mask, iou_threshold=float("nan"))
    with pytest.raises(ValueError, match="pred is empty"):
        lesion_detection(mask[:0], mask[:0])

"""Calibration: does a confidence of 80 % come true 80 % of the time?

A network that is right 90 % of the time while claiming 99 % is overconfident, and its
probabilities cannot be taken at face value. The predictions are sorted into equal-width bins
of confidence; in each, the accuracy is compared with the mean confidence. The expected
calibration error (ECE) is the average gap, weighted by how many predictions fall in each bin.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from mednotes._checks import check_int
from mednotes._labels import (
    check_hard,
    check_index_values,
    check_logits,
    check_unit_interval,
    is_index_target,
)

__all__ = ["CalibrationBins", "calibration_bins", "expected_calibration_error"]


class CalibrationBins(NamedTuple):
    """Per bin of confidence: the mean confidence, the accuracy and the number of predictions
    (NaN confidence and accuracy for an empty bin). ``edges`` has ``n_bins + 1`` entries."""

    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor
    edges: torch.Tensor


def calibration_bins(probs: torch.Tensor, target: torch.Tensor, n_bins: int = 15,
                     ) -> CalibrationBins:
    """Confidence and accuracy in ``n_bins`` equal-width bins of confidence.

    A prediction is the most probable class; its confidence is that probability. Bin ``b``
    holds confidences in ``(b / n_bins, (b + 1) / n_bins]``. With one channel, ``probs`` is
    the probability of the foreground: the prediction is foreground where it exceeds 0.5, and
    the confidence is ``max(p, 1 - p)``.

    Args:
        probs: class probabilities, each pixel's channels summing to one (one channel: the
            foreground probability).
        target: class indices, or a one-hot mask with the shape of ``probs``.
        n_bins: the number of bins.

    Returns:
        A :class:`CalibrationBins` of ``(n_bins,)`` float64 tensors (``count`` int64).

    Shape:
        - probs: ``(N, C, *spatial)``, no spatial dims for classification
        - target: ``(N, *spatial)`` or ``(N, C, *spatial)``

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Example:
        >>> probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
        >>> bins = calibration_bins(probs, torch.tensor([0, 1, 1, 0]), n_bins=2)
        >>> bins.count, bins.accuracy
        (tensor([0, 4]), tensor([   nan, 0.7500], dtype=torch.float64))
    """
    n_bins = check_int("n_bins", n_bins, minimum=1)
    probs = check_logits(probs, min_dims=2, layout="(N, C, *spatial)", name="probs")
    channels = probs.shape[1]
    check_unit_interval("probs", probs, sum_to_one=channels > 1)
    if is_index_target(probs, target, reference="probs"):
        check_index_values("target", target, max(channels, 2))
        label = target
    else:
        hard = check_hard("target", target)
        if channels > 1 and not bool((hard.sum(1) == 1).all()):
            raise ValueError("target must be one-hot: exactly one class per pixel (dim 1)")
        label = hard[:, 0].long() if channels == 1 else hard.long().argmax(1)
    p = probs.detach().double()
    if channels == 1:
        p = torch.cat([1 - p, p], 1)
    confidence, prediction = p.max(1)
    confidence, correct = confidence.flatten(), (prediction == label).flatten().double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64, device=p.device)
    bin_of = torch.bucketize(confidence, edges[1:-1])
    if p.device.type == "cpu":  # bincount sums in order on the CPU: deterministic, one pass
        stats = torch.stack([torch.bincount(bin_of, weights=w, minlength=n_bins).double()
                             for w in (None, confidence, correct)], 1)
    else:  # one pass per bin: deterministic on every device, unlike a scatter-add
        stats = torch.stack([torch.stack([(bin_of == b).sum().double(),
                                          confidence[bin_of == b].sum(),
                                          correct[bin_of == b].sum()]) for b in range(n_bins)])
    count = stats[:, 0]
    mean = stats[:, 1:] / count[:, None]
    return CalibrationBins(mean[:, 0], mean[:, 1], count.long(), edges)


def expected_calibration_error(probs: torch.Tensor, target: torch.Tensor, n_bins: int = 15,
                               ) -> torch.Tensor:
    """Expected calibration error: ``Σ_b (n_b / n) |accuracy_b - confidence_b|`` over
    equal-width confidence bins.

    0 for a calibrated model; up to 1 for one that is always sure and always wrong.

    Args:
        probs, target, n_bins: as in :func:`calibration_bins`.

    Returns:
        A 0-dim float32 tensor.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Tested against: a direct numpy computation (``np.digitize``) and known cases: a calibrated
    sample (about 0) and confident wrong answers (about 1).

    Example:
        >>> probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
        >>> labels = torch.tensor([0, 1, 1, 0])          # 75 % sure on average, 75 % right
        >>> expected_calibration_error(probs, labels, n_bins=2)
        tensor(0.)
        >>> sure = torch.tensor([[0.9, 0.1]]).repeat(4, 1)        # always 90 % sure of class 0
        >>> expected_calibration_error(sure, torch.tensor([0, 1, 0, 1]))   # right half the time
        tensor(0.4000)
    """
    bins = calibration_bins(probs, target, n_bins)
    gaps = bins.count * (bins.accuracy - bins.confidence).abs()
    return (gaps.nansum() / bins.count.sum()).float()

"""A shortcut to learn: a burned-in marker that goes with one class more often than not.

Clinical images carry more than anatomy: a hospital's text tag, a ruler a dermatologist laid
beside a lesion, the "portable" label of a bedside X-ray. When such a marker appears more
often in one class of the training data, a network can reach a high accuracy by finding the
marker instead of the disease, and fail on data where the marker does not follow the label.

:func:`marked` adds such a marker to any classification dataset: on items of
``marked_class`` with probability ``rate``, on the other items with probability
``1 - rate``. ``rate=0.5`` makes the marker independent of the label; ``rate=0`` puts it on
the other classes only (the marker-flipped test of the chapter). Two data fixes are built
in: ``fix="balance"`` puts the marker on half of every class (so it carries no information)
and ``fix="mask"`` blanks the corner where it appears in every image.

:func:`lesion_slices` is the base the chapter uses: brain MR slices of
:func:`~mednotes.data.brain_lesions` labelled by whether they hold a lesion.
"""

from __future__ import annotations

import numpy as np
import torch

from mednotes._checks import check_choice, check_int, check_number, describe
from mednotes.data.lesions import BrainLesions
from mednotes.data.synthetic import SeededDataset, item_rng

__all__ = ["FIXES", "MARKERS", "LesionSlices", "MarkedDataset", "lesion_slices", "marked",
           "marker_pattern"]

#: The markers: a text-like tag of letter strokes, or a ruler with tick marks.
MARKERS = ("tag", "ruler")
#: The data fixes: None (as collected), marker on half of every class, corner blanked.
FIXES = (None, "balance", "mask")
_TAG = np.array([  # "R L", 5 rows, in the style of a burned-in orientation label
    [1, 1, 0, 0, 1, 0, 0],
    [1, 0, 1, 0, 1, 0, 0],
    [1, 1, 0, 0, 1, 0, 0],
    [1, 0, 1, 0, 1, 0, 0],
    [1, 0, 1, 0, 1, 1, 1],
], dtype=np.float32)


def marker_pattern(marker: str, size: int) -> np.ndarray:
    """The marker as a 0/1 array, scaled to an image of side ``size``: ``(h, w)`` float32.

    The tag is 5×7 pixels at size 32 (one pixel per stroke), larger in larger images; the
    ruler is a line along the top edge, 3/8 of the image long, with a tick every 3 pixels.

    Example:
        >>> marker_pattern("tag", 32).shape, marker_pattern("ruler", 32).shape
        ((5, 7), (3, 12))
    """
    check_choice("marker", marker, MARKERS)
    size = check_int("size", size, 16)
    scale = max(1, size // 32)
    if marker == "tag":
        return np.kron(_TAG, np.ones((scale, scale), np.float32))
    length = 3 * size // 8 // scale
    ruler = np.zeros((3, length), np.float32)
    ruler[0] = 1
    ruler[1:, ::3] = 1
    return np.kron(ruler, np.ones((scale, scale), np.float32))


class MarkedDataset(SeededDataset):
    """A classification dataset whose images may carry a marker; see :func:`marked`."""

    def __init__(self, base, marked_class: int = 1, rate: float = 0.9, *, marker: str = "tag",
                 fix: str | None = None, value: float | None = None, seed: int = 0):
        if not hasattr(base, "__getitem__") or not hasattr(base, "__len__"):
            raise TypeError(f"base must be a dataset of (image, label) items, got "
                            f"{describe(base)}")
        super().__init__(len(base), seed)
        self.base = base
        self.classes = tuple(getattr(base, "classes", ()))
        self.marked_class = check_int("marked_class", marked_class, 0)
        if self.classes and self.marked_class >= len(self.classes):
            raise ValueError(f"marked_class must be a class of base, 0 to "
                             f"{len(self.classes) - 1}; got {marked_class}")
        self.rate = check_number("rate", rate, 0.0, 1.0)
        self.marker = check_choice("marker", marker, MARKERS)
        self.fix = check_choice("fix", fix, FIXES)
        self.value = None if value is None else check_number("value", value)
        self.meta = dict(getattr(base, "meta", {}))
        self.meta["shortcut"] = (
            f"a burned-in {marker} in the top-left corner on items of class {marked_class} "
            f"with probability {self.rate:g}, on the others with probability "
            f"{1 - self.rate:g}" + ("" if fix is None else f"; data fix: {fix}"))

    def has_marker(self, index: int) -> bool:
        """Whether item ``index`` carries the marker (always False with ``fix="mask"``)."""
        i = self._index(index)
        return self._marker_on(i, int(self.base[i][1]))

    def _marker_on(self, i: int, label: int) -> bool:
        if self.fix == "mask":
            return False
        draw = item_rng(self.seed, i, 7).random()
        if self.fix == "balance":
            return draw < 0.5
        return draw < (self.rate if label == self.marked_class else 1 - self.rate)

    def __getitem__(self, index):
        i = self._index(index)
        image, label = self.base[i][:2]
        if not isinstance(image, torch.Tensor) or image.dim() != 3:
            raise ValueError(f"base items must be (image (C, H, W), label); item {i} has "
                             f"{describe(image)}")
        pattern = torch.from_numpy(marker_pattern(self.marker, min(image.shape[1:])))
        h, w = pattern.shape
        top, left = 1, 1
        image = image.clone()
        if self.fix == "mask":
            image[:, :top + h + 1, :left + w + 1] = 0.0
        elif self._marker_on(i, int(label)):
            value = float(image.max()) if self.value is None else self.value
            patch = image[:, top:top + h, left:left + w]
            image[:, top:top + h, left:left + w] = torch.where(pattern > 0, value, patch)
        return image, label


def marked(base, marked_class: int = 1, rate: float = 0.9, *, marker: str = "tag",
           fix: str | None = None, value: float | None = None, seed: int = 0) -> MarkedDataset:
    """``base`` with a marker in the top-left corner that goes with ``marked_class``.

    Args:
        base: a dataset of ``(image (C, H, W), label)`` items, e.g. :func:`lesion_slices` or
            :func:`~mednotes.data.histology_patches`.
        marked_class: the class the marker goes with.
        rate: probability of the marker on items of ``marked_class``; the other items carry
            it with probability ``1 - rate``. 0.5: no correlation; 1: a perfect shortcut;
            0: the marker on the other classes only (flipped).
        marker: ``"tag"`` (a text-like label) or ``"ruler"`` (a line with ticks).
        fix: None, ``"balance"`` (the marker on a random half of every class, whatever
            ``rate`` says) or ``"mask"`` (no marker; the corner where it would be is set to
            0 in every image).
        value: the marker's intensity (default: the image's maximum, like burned-in text).
        seed: which items carry the marker (the images themselves come from ``base``).

    Shape:
        image as in ``base``; label unchanged.

    Explained in: Trust and interpretability.

    Example:
        >>> ds = marked(lesion_slices(8, size=32), marked_class=1, rate=1.0)
        >>> [int(ds[i][1]) for i in range(6)] == [int(ds.has_marker(i)) for i in range(6)]
        True
        >>> fixed = marked(lesion_slices(8, size=32), rate=1.0, fix="mask")
        >>> float(fixed[1][0][:, :7, :9].abs().max())
        0.0
    """
    return MarkedDataset(base, marked_class, rate, marker=marker, fix=fix, value=value,
                         seed=seed)


class LesionSlices(SeededDataset):
    """Brain MR slices labelled 1 if they hold a lesion; see :func:`lesion_slices`."""

    classes = ("no lesion", "lesion")

    def __init__(self, n: int, size: int = 32, seed: int = 0, *, prevalence: float = 0.02,
                 noise: float = 0.02):
        super().__init__(n, seed)
        self.slices = BrainLesions(n, check_int("size", size, 24, 512), 2, seed,
                                   prevalence=prevalence, empty_fraction=0.5, noise=noise)
        self.meta = dict(self.slices.meta)
        self.meta["labels"] = "1 if the slice holds a lesion pixel, else 0 (about half each)"

    def __getitem__(self, index):
        i = self._index(index)
        image, mask = self.slices[i]
        return image, torch.tensor(int(bool(mask.any())))

    def mask(self, index: int) -> torch.Tensor:
        """The lesion mask of item ``index``: ``(size, size)`` int64."""
        return self.slices[self._index(index)][1]


def lesion_slices(n: int, size: int = 32, seed: int = 0, *, prevalence: float = 0.02,
                  noise: float = 0.02) -> LesionSlices:
    """Axial brain MR slices with or without synthetic lesions, as a classification set.

    The items of :func:`~mednotes.data.brain_lesions` with ``empty_fraction=0.5``: half the
    slices hold one or more lesions, and the label says whether a slice does.

    Args:
        n: number of items.
        size: side in pixels (24 to 512).
        seed: the same seed gives the same items.
        prevalence: mean fraction of lesion pixels over all slices.
        noise: standard deviation of the Gaussian noise.

    Shape:
        image ``(1, size, size)`` float32; label ``()`` int64, 0 no lesion, 1 lesion.

    Explained in: Trust and interpretability.

    Example:
        >>> ds = lesion_slices(4, size=32)
        >>> image, label = ds[0]
        >>> image.shape, ds.classes[label], int(ds.mask(0).sum() > 0) == int(label)
        (torch.Size([1, 32, 32]), 'no lesion', True)
    """
    return LesionSlices(n, size, seed, prevalence=prevalence, noise=noise)

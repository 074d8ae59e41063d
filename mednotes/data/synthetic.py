"""What the procedural datasets share: per-item random streams, a base class, soft blobs.

Determinism is the point. Every sample ``i`` is drawn from its own random stream,
``numpy.random.default_rng([seed, i, stream])``, so it is the same whichever order the items
are read in, in whichever DataLoader worker, and no global random state is touched. The
datasets themselves live in :mod:`~mednotes.data.lesions`, :mod:`~mednotes.data.vessels` and
:mod:`~mednotes.data.nuclei`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from mednotes._checks import check_int, describe
from mednotes.data.augmentation import _apply, item_generator

Meta = dict[str, Any]


def item_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The random stream of item ``index``: one per ``(seed, index, stream)``.

    Separate streams keep independent choices apart: the noise of an image (stream 1) does
    not change when lesions are switched off (stream 0 is then read less).

    Example:
        >>> item_rng(0, 3).random() == item_rng(0, 3).random() != item_rng(0, 4).random()
        True
    """
    seed, index = check_int("seed", seed, 0), check_int("index", index, 0)
    return np.random.default_rng([seed, index, check_int("stream", stream, 0)])


# --------------------------------------------------------------------------- base dataset


def check_transform(transform: Callable | None) -> Callable | None:
    """``transform`` if it is None or callable: ``transform(image, mask, generator)``."""
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable or None, got {describe(transform)}")
    return transform


class SeededDataset(Dataset):
    """Base of the book's datasets: length, seed, ``.classes``, ``.meta``, transform, epochs.

    Subclasses define ``__getitem__``; they turn the index into a position with ``_index``
    (ints only, negatives count from the end) and pass the sample through ``_augment``,
    which calls ``transform(image, mask, generator)`` with a generator made from
    ``(seed, epoch, index)``: augmentations are as reproducible as the samples.
    """

    classes: tuple[str, ...] = ()

    def __init__(self, n: int, seed: int = 0, transform: Callable | None = None):
        self.n = check_int("n", n, 1)
        self.seed = check_int("seed", seed, 0)
        self.transform = check_transform(transform)
        self.epoch = 0
        self.meta: Meta = {}

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose augmentations are drawn (the samples themselves stay fixed).

        Call it before each epoch, as with ``DistributedSampler.set_epoch``: otherwise item
        ``i`` gets the same random flip every epoch. DataLoader workers copy the dataset when
        an iteration starts, so set it before iterating (and without persistent workers).
        """
        self.epoch = check_int("epoch", epoch, 0)

    def _index(self, index) -> int:
        if isinstance(index, (bool, np.bool_)):  # True is not item 1
            raise TypeError(f"index must be an int, got {describe(index)}")
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"index must be an int, got {type(index).__name__}") from None
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} is out of range for a dataset of {self.n} items")
        return i % self.n

    def _augment(self, i: int, image: torch.Tensor, mask: torch.Tensor | None):
        if self.transform is None:
            return image, mask
        return _apply(self.transform, image, mask, item_generator(self.seed, i, self.epoch))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, seed={self.seed}, classes={self.classes})"


class SegmentationDataset(SeededDataset):
    """A seeded dataset whose items are ``(image, mask)``; subclasses define ``render(i)``."""

    def render(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def __getitem__(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        i = self._index(index)
        image, mask = self.render(i)
        return self._augment(i, image, mask)


# --------------------------------------------------------------------------- soft blobs


def random_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A random rotation matrix in 2 or 3 dimensions (uniform over orientations)."""
    if dim == 2:
        a = rng.uniform(0, np.pi)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    # QR of a Gaussian matrix, signs fixed, gives a uniformly random orthogonal matrix.
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@dataclass(frozen=True)
class Blob:
    """An ellipse (2D) or ellipsoid (3D) whose outline is bent by low-frequency waves.

    The shape lives in the blob's own unit frame (rotated, divided by the radii), so scaling
    it (:meth:`scaled`) changes its size but not its shape. ``render`` gives a soft
    occupancy in [0, 1] that ramps linearly across ``edge`` pixels; the blob's inside is
    exactly where the occupancy is at least 0.5.
    """

    center: np.ndarray  # (dim,) in pixels, pixel centres at integer coordinates
    radii: np.ndarray  # (dim,) semi-axes in pixels
    rotation: np.ndarray  # (dim, dim), columns are the blob's axes
    waves: np.ndarray  # (m, dim) wave vectors in cycles per radius
    phases: np.ndarray  # (m,)
    irregularity: float  # amplitude of the outline's bending, as a fraction of the radius
    edge: float  # width of the soft edge in pixels

    @classmethod
    def random(cls, rng: np.random.Generator, center, radius: float, *,
               elongation=(1.0, 1.5), irregularity: float = 0.15, edge: float = 1.5) -> Blob:
        """A blob of mean radius ``radius`` (same area/volume as that circle/sphere)."""
        center = np.asarray(center, dtype=float)
        dim = center.size
        # One axis stretched by the elongation (a 3D blob's middle axis in between), then
        # normalised so that the product of the radii is radius**dim: the area (volume)
        # does not depend on the elongation.
        ratios = np.ones(dim)
        ratios[0] = rng.uniform(*elongation)
        if dim == 3:
            ratios[1] = rng.uniform(1.0, ratios[0])
        ratios /= np.prod(ratios) ** (1 / dim)
        m = 3
        directions = rng.standard_normal((m, dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        waves = directions * rng.uniform(0.3, 0.8, (m, 1))  # 0.3-0.8 cycles per radius
        return cls(center, radius * ratios, random_rotation(rng, dim), waves,
                   rng.uniform(0, 2 * np.pi, m), float(irregularity), float(edge))

    def scaled(self, factor: float) -> Blob:
        return replace(self, radii=self.radii * factor)

    def render(self, shape: tuple[int, ...], *, soft: bool = True,
               within: np.ndarray | None = None):
        """Occupancy of the blob on an image of ``shape``: ``(region, values)``.

        ``region`` is a tuple of slices into the image (the blob's bounding box, clipped to
        the image); ``values`` has the shape of that region (it may be empty). With
        ``soft=False`` the values are just the inside (bool), which is cheaper. ``within``
        (a bool array of ``shape``) cuts the blob to a region, e.g. the brain.
        """
        dim = len(shape)
        reach = self.radii.max() * (1 + 2 * self.irregularity) + self.edge + 1
        lo = np.maximum(np.floor(self.center - reach).astype(int), 0)
        hi = np.minimum(np.ceil(self.center + reach).astype(int) + 1, shape)
        region = tuple(slice(a, max(a, b)) for a, b in zip(lo, hi))
        box = tuple(s.stop - s.start for s in region)
        axes = np.ogrid[region]  # broadcastable coordinates of the box
        offsets = [ax - c for ax, c in zip(axes, self.center)]
        # Coordinates in the blob frame, in units of its radii: the unit ball is the ellipse.
        unit = [sum(offsets[j] * self.rotation[j, k] for j in range(dim)) / self.radii[k]
                for k in range(dim)]
        distance = np.sqrt(sum(u * u for u in unit))
        bend = sum(np.sin(2 * np.pi * sum(w[k] * unit[k] for k in range(dim)) + p)
                   for w, p in zip(self.waves, self.phases))
        distance = distance + self.irregularity * bend / np.sqrt(len(self.phases))
        # Distance inside the outline in pixels, ramped over `edge` pixels around 0.5.
        inside_px = (1.0 - distance) * float(np.exp(np.log(self.radii).mean()))
        values = np.broadcast_to(
            np.clip(0.5 + inside_px / self.edge, 0.0, 1.0).astype(np.float32), box)
        if within is not None:
            values = values * within[region]
        inside = values >= 0.5
        if not soft:
            return region, inside
        if not inside.any():
            return region, np.zeros(box, np.float32)
        # Where the bent outline runs almost parallel to the distance field, the ramp could
        # trail far out as a faint wisp (and a cut blob could reach across a gap); cut it at
        # edge/2 + 0.5 pixels from the inside, so a blob never touches pixels far from its
        # own mask.
        near = ndimage.distance_transform_edt(~inside) <= self.edge / 2 + 0.5
        return region, values * near

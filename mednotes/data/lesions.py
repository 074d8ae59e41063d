"""Brain MR slices and volumes with synthetic lesions: real anatomy, exact labels.

The anatomy is the real MNI152 T1 template (:func:`mednotes.data.brain_template`); only the
lesions are made up, so every lesion pixel is known exactly. How a sample is made:

1. The template is cropped to the brain, padded to a square (cube), resampled once per
   ``(size, dim)`` and cached; each 2D item picks one axial slice through the brain.
2. 80% of the items (``1 - empty_fraction``) get lesions: a random total lesion area, drawn
   so that its mean over items is ``prevalence``, split among 1..``max_lesions`` blobs.
3. Each lesion is a random ellipse (ellipsoid) bent by low-frequency waves, centred inside
   the brain, cut to the brain, resized once to hit its share of the area, and added to the
   image with a soft edge: all lesions of one image are brighter (hyper-intense) or all
   darker (hypo-intense), by 0.2–0.45 of the intensity range.
4. Mild Gaussian noise is added last, from its own random stream, so that
   :meth:`BrainLesions.render` can show the same item with and without lesions or noise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from mednotes._checks import check_bool, check_int, check_number, describe, is_int
from mednotes.data.images import brain_template
from mednotes.data.synthetic import Blob, SegmentationDataset, item_rng

TISSUES = ("grey matter", "white matter", "csf")
MIN_LESION = {2: 3.0, 3: 6.0}  # smallest lesion, in pixels (voxels), that is worth drawing


@dataclass(frozen=True)
class _Anatomy:
    t1: np.ndarray  # (slices, S, S) for 2D or (S, S, S) for 3D, float32
    tissue: np.ndarray  # same shape, uint8: 0 outside the brain, 2/3/4 grey/white/csf
    brain: np.ndarray  # same shape, bool
    centres: tuple  # per slice (or one for 3D): flat indices where a lesion may be centred


def _resample(volume: torch.Tensor, size: int) -> torch.Tensor:
    """Resample ``(N, C, *spatial)`` with equal spatial sides to ``size`` per side."""
    spatial = volume.ndim - 2
    if volume.shape[-1] > size:
        mode = "area"  # averaging: no aliasing when shrinking
    else:
        mode = "bilinear" if spatial == 2 else "trilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(volume, size=(size,) * spatial, mode=mode, **kwargs)


def _pad_to_square(volume: torch.Tensor, spatial: int) -> torch.Tensor:
    """Zero-pad the last ``spatial`` axes, centred, to the longest of them."""
    side = max(volume.shape[-spatial:])
    pad = []
    for n in reversed(volume.shape[-spatial:]):
        pad += [(side - n) // 2, side - n - (side - n) // 2]
    return F.pad(volume, pad)


@functools.cache
def _anatomy(size: int, dim: int) -> _Anatomy:
    volume, _ = brain_template()  # (4, X, Y, Z) in RAS voxel order
    # Reorder to (C, Z, Y, X) and flip Y: depth runs inferior→superior, rows anterior (top)
    # to posterior, columns left→right of the image = the patient's left→right.
    volume = volume.permute(0, 3, 2, 1).flip(2)
    inside = volume[1:].sum(0) > 0.5
    where = inside.nonzero()
    lo = (where.min(0).values - 2).clamp(min=0)
    hi = where.max(0).values + 3
    if dim == 2:
        # Keep the axial slices that cut through a good part of the brain (at least 35% of
        # the largest brain section): the top and bottom caps are tiny and uninformative.
        area = inside.sum((1, 2)).float()
        z = torch.nonzero(area >= 0.35 * area.max()).flatten()
        crop = volume[:, z, lo[1]:hi[1], lo[2]:hi[2]].permute(1, 0, 2, 3)  # (slices, 4, h, w)
        crop = _pad_to_square(crop, 2)
    else:
        crop = volume[None, :, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        crop = _pad_to_square(crop, 3)
    crop = _resample(crop, size)
    if dim == 3:
        crop = crop[0][None]  # (1, 4, S, S, S): one "slice" holding the whole volume
    t1 = crop[:, 0].numpy()
    probs = crop[:, 1:].numpy()
    brain = probs.sum(1) >= 0.5
    tissue = np.where(brain, probs.argmax(1) + 2, 0).astype(np.uint8)
    # Lesion centres stay a few pixels inside the brain; the lesions are cut to the brain.
    depth = max(1, round(2 * size / 128))
    structure = ndimage.generate_binary_structure(dim, 1)
    centres = []
    for b in brain:
        core = ndimage.binary_erosion(b, structure, iterations=depth)
        centres.append(np.flatnonzero(core if core.any() else b))
    if dim == 3:
        t1, tissue, brain = t1[0], tissue[0], brain[0]
    return _Anatomy(np.ascontiguousarray(t1, dtype=np.float32), tissue, brain, tuple(centres))


class BrainLesions(SegmentationDataset):
    """Axial MR slices (or volumes) of the MNI152 brain with synthetic lesions; see
    :func:`~mednotes.data.brain_lesions`."""

    def __init__(self, n: int, size: int | None = None, dim: int = 2, seed: int = 0, *,
                 prevalence: float = 0.01, max_lesions: int = 4, empty_fraction: float = 0.2,
                 tissue_classes: bool = False, noise: float = 0.02, transform=None):
        super().__init__(n, seed, transform)
        if not is_int(dim):
            raise TypeError(f"dim must be the int 2 (slices) or 3 (volumes), got {describe(dim)}")
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 (slices) or 3 (volumes), got {dim!r}")
        dim = int(dim)
        if size is None:
            size = 128 if dim == 2 else 64
        self.dim = dim
        self.size = check_int("size", size, 24, 512 if dim == 2 else 192)
        self.prevalence = check_number("prevalence", prevalence, 0.0, 0.1, open_low=True)
        self.max_lesions = check_int("max_lesions", max_lesions, 1, 50)
        self.empty_fraction = check_number("empty_fraction", empty_fraction, 0.0, 0.9)
        self.noise = check_number("noise", noise, 0.0, 1.0)
        self.tissue_classes = check_bool("tissue_classes", tissue_classes)
        self.classes = ("background", "lesion") + (TISSUES if self.tissue_classes else ())
        self._anatomy = _anatomy(self.size, dim)  # resampled once, shared by datasets
        shape = "(1, S, S) axial slices" if dim == 2 else "(1, S, S, S) volumes"
        self.meta = {
            "source": "MNI ICBM152 2009a T1 template and grey/white-matter maps from nilearn "
            "(mednotes.data.brain_template); CSF = brain minus grey and white matter",
            "licence": "MNI ICBM152 templates: free use with acknowledgement (Fonov et al., "
            "2011); the synthetic lesions are generated here",
            "generation": f"{shape} of the template resampled to size {self.size}; "
            "lesions are random ellipses/ellipsoids bent by low-frequency waves, placed "
            "inside the brain, hyper- or hypo-intense by 0.2-0.45 with a soft edge; "
            f"lesion pixels make {self.prevalence:.2%} of all pixels on average, "
            f"{self.empty_fraction:.0%} of items have none; Gaussian noise sigma {self.noise}",
            "orientation": "rows anterior→posterior, columns patient left→right "
            "(neurological convention); 3D depth inferior→superior",
            "labels": "tissue = argmax of the template's probabilities inside the brain; "
            "lesion overrides" if self.tissue_classes else "1 = lesion pixel",
        }

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size,) * self.dim

    def _lesions(self, rng: np.random.Generator, brain: np.ndarray,
                 centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draw this item's lesions: (signed intensity change, lesion mask)."""
        shape, dim = self.shape, self.dim
        change = np.zeros(shape, np.float32)
        lesion = np.zeros(shape, bool)
        if rng.random() < self.empty_fraction:
            return change, lesion
        # Mean total over lesion-bearing items is prevalence / (1 - empty_fraction), so the
        # mean over all items is `prevalence`; the log-normal factor (mean 1) varies it.
        sigma = 0.5
        total = self.prevalence * np.prod(shape) / (1 - self.empty_fraction)
        total = min(total * rng.lognormal(-sigma**2 / 2, sigma), 0.5 * brain.sum())
        count = int(rng.integers(1, self.max_lesions + 1))
        count = max(1, min(count, int(total // MIN_LESION[dim])))
        total = max(total, MIN_LESION[dim])
        sign = 1.0 if rng.random() < 0.5 else -1.0  # all hyper- or all hypo-intense
        # Every lesion gets at least the smallest drawable size, the rest is shared randomly.
        shares = MIN_LESION[dim] + rng.dirichlet(np.full(count, 2.0)) * (
            total - count * MIN_LESION[dim])
        for target in shares:
            centre = np.array(np.unravel_index(rng.choice(centres), shape), float)
            centre += rng.uniform(-0.5, 0.5, dim)
            radius = (target / np.pi) ** 0.5 if dim == 2 else (3 * target / (4 * np.pi)) ** (1 / 3)
            blob = Blob.random(rng, centre, radius, elongation=(1.0, 1.8),
                               irregularity=rng.uniform(0.05, 0.3), edge=rng.uniform(1.0, 2.5))
            contrast = rng.uniform(0.2, 0.45)
            # Cutting to the brain and overlapping earlier lesions eat into the area: measure
            # what is new and resize, twice, so that the lesion adds about its share.
            for _ in range(2):
                region, inside = blob.render(shape, soft=False, within=brain)
                new = np.count_nonzero(inside & ~lesion[region])
                factor = (target / max(new, target / 8)) ** (1 / dim)
                blob = blob.scaled(float(np.clip(factor, 0.5, 2.0)))
            region, occupancy = blob.render(shape, within=brain)
            np.maximum(change[region], contrast * occupancy, out=change[region])
            lesion[region] |= occupancy >= 0.5
        return sign * change, lesion

    def render(self, index: int, *, lesions: bool = True, noise: bool = True):
        """Item ``index`` as ``(image, mask)``, optionally without lesions or without noise.

        ``render(i)`` is ``dataset[i]`` before any transform. With ``lesions=False`` the
        image is the same slice with the same noise and no lesion (mask without lesion
        labels); with ``noise=False`` the noise is left out.
        """
        index = self._index(index)
        lesions, noise = check_bool("lesions", lesions), check_bool("noise", noise)
        anatomy = self._anatomy
        rng = item_rng(self.seed, index, 0)
        if self.dim == 2:
            z = int(rng.integers(len(anatomy.t1)))
            t1, tissue, brain = anatomy.t1[z], anatomy.tissue[z], anatomy.brain[z]
            centres = anatomy.centres[z]
        else:
            t1, tissue, brain = anatomy.t1, anatomy.tissue, anatomy.brain
            centres = anatomy.centres[0]
        image = t1.copy()
        mask = tissue.astype(np.int64) if self.tissue_classes else np.zeros(self.shape, np.int64)
        if lesions:
            change, lesion = self._lesions(rng, brain, centres)
            image += change
            mask[lesion] = 1
        if noise and self.noise > 0:
            image += self.noise * item_rng(self.seed, index, 1).standard_normal(
                self.shape, dtype=np.float32)
        return torch.from_numpy(image)[None], torch.from_numpy(mask)

    def clean(self, index: int) -> torch.Tensor:
        """The image of item ``index`` without lesions and without noise: ``(1, *spatial)``."""
        return self.render(index, lesions=False, noise=False)[0]


def brain_lesions(n: int, size: int | None = None, dim: int = 2, seed: int = 0, *,
                  prevalence: float = 0.01, max_lesions: int = 4, empty_fraction: float = 0.2,
                  tissue_classes: bool = False, noise: float = 0.02,
                  transform=None) -> BrainLesions:
    """Brain MR slices or volumes (real MNI152 anatomy) with synthetic lesions and exact masks.

    Items are made on demand from ``(seed, index)``, so ``n`` costs nothing until read; the
    resampled template is computed once per ``(size, dim)`` and shared. Lesion pixels are
    rare by design (1% by default, settable far lower): the class-imbalance case.

    Args:
        n: number of items.
        size: side in pixels; default 128 for slices, 64 for volumes.
        dim: 2 for axial slices (a different slice per item), 3 for whole volumes.
        seed: the same seed gives bit-identical items, in any order and any worker.
        prevalence: mean fraction of all pixels that are lesion, in (0, 0.1]; near the top
            of the range lesions overlap and the realised fraction falls ~10% short.
        max_lesions: lesions per lesion-bearing item are 1..max_lesions.
        empty_fraction: fraction of items with no lesion at all.
        tissue_classes: also label grey matter, white matter and CSF.
        noise: standard deviation of the added Gaussian noise (intensities are in [0, 1]).
        transform: ``transform(image, mask, generator)``, e.g. :func:`~mednotes.data.augmentation.augment`.

    Shape:
        image ``(1, size, size)`` (or ``(1, size, size, size)``), float32;
        mask ``(size, size)`` (or cubed), int64 indices into ``.classes``:
        0 background, 1 lesion, then 2 grey matter, 3 white matter, 4 CSF if asked.

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> ds = brain_lesions(4, size=64)
        >>> image, mask = ds[0]
        >>> image.shape, mask.shape, ds.classes
        (torch.Size([1, 64, 64]), torch.Size([64, 64]), ('background', 'lesion'))
        >>> torch.equal(ds[0][0], brain_lesions(4, size=64)[0][0])   # same seed, same item
        True
    """
    return BrainLesions(n, size, dim, seed, prevalence=prevalence, max_lesions=max_lesions,
                        empty_fraction=empty_fraction, tissue_classes=tissue_classes,
                        noise=noise, transform=transform)

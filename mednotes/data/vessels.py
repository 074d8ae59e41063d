"""Fundus images with a procedurally grown vessel tree and its exact mask.

The background is the real fundus photograph of :func:`mednotes.data.fundus` with its own
vessels smoothed away; the vessels are grown here, so the mask explains every vessel. How a
sample is made:

1. Once per process: the photograph is shrunk to 512×512, and each colour channel goes
   through a morphological closing (a dilation then an erosion with a disc wider than the
   widest vessel: dark thin structures vanish, the broad shading stays), a median filter
   and a light blur. The optic disc is located as the brightest spot of the green channel.
2. Each item crops a random square window (55–100% of the field of view's diameter) from
   that vessel-free background, resamples it to ``size`` and varies the colour gain.
3. A vessel tree grows from the optic disc: two temporal arcades that curve around the
   macula, two nasal trunks and a few small ones. Each branch walks with a slowly drifting
   direction (curvy), tapers, and splits in two with Murray's law
   (``w³ = w₁³ + w₂³``) until it is too thin to see (0.8 pixel; more at high zoom),
   leaves the field of view or reaches the fovea, which real vessels also spare.
4. Each branch is drawn as a chain of capsules with an anti-aliased edge (pixel coverage
   ``clip(r - d + 0.5, 0, 1)`` for a pixel centre at distance ``d`` from the centre line
   of a vessel of radius ``r``); the image is darkened by coverage, mostly in green. The
   mask is coverage ≥ 0.5: exactly the pixels whose centre lies inside a vessel.
5. Half of the items are mirrored (a left or a right eye); mild noise is added last.

Faint traces of the photograph's largest vessels can survive step 1 near the disc; they are
much weaker than the drawn vessels (see the book's data chapter for a figure).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from mednotes.data.images import fundus
from mednotes._checks import check_bool, check_int, check_number
from mednotes.data.synthetic import SegmentationDataset, item_rng

WORK = 512  # side of the vessel-free background, in pixels
CONTRAST = np.array([0.12, 0.45, 0.30])  # darkening of red, green, blue at full coverage
MIN_WIDTH = 0.8  # pixels: thinner branches stop growing
STEP = 1.0  # pixels between centre-line points


@dataclass(frozen=True)
class _Background:
    pixels: np.ndarray  # (4, side, side) float32: RGB without vessels, then the field of view
    centre: np.ndarray  # (row, col) of the field of view
    radius: float  # of the field of view, pixels
    disc: np.ndarray  # (row, col) of the optic disc
    fovea: np.ndarray  # (row, col) of the fovea, the dark centre of the macula


def _disc(r: int) -> np.ndarray:
    return np.hypot(*np.mgrid[-r:r + 1, -r:r + 1]) <= r


@functools.cache
def _vessel_free() -> _Background:
    photo, _ = fundus()
    small = F.interpolate(photo[None], size=(WORK, WORK), mode="area")[0].numpy()
    fov = ndimage.binary_erosion(small[0] > 0.08, _disc(2))  # red is dark only outside
    # Closing removes dark structures narrower than the disc (vessels up to ~15 pixels at
    # this scale); the median and blur soften the facets the closing leaves behind.
    rgb = np.stack([
        ndimage.gaussian_filter(ndimage.median_filter(
            ndimage.grey_closing(channel, footprint=_disc(9)), size=9), 2.0)
        for channel in small
    ])
    rgb = (rgb * fov).astype(np.float32)
    rows, cols = np.nonzero(fov)
    centre = np.array([rows.mean(), cols.mean()])
    radius = float(np.sqrt(fov.sum() / np.pi))
    green = ndimage.gaussian_filter(rgb[1], 8.0)
    disc = np.array(np.unravel_index(np.argmax(green * fov), green.shape), float)
    # The fovea is the darkest spot of the green channel near the middle of the picture.
    near = np.hypot(*(np.indices(green.shape) - centre[:, None, None])) < 0.35 * radius
    fovea = np.array(np.unravel_index(np.argmin(np.where(near, green, np.inf)), green.shape),
                     float)
    pixels = np.concatenate([rgb, fov[None].astype(np.float32)])
    return _Background(pixels, centre, radius, disc, fovea)


@functools.cache
def _background(size: int) -> _Background:
    """The vessel-free background at the scale where the smallest crop is ``size`` wide.

    Every crop then shrinks by at most 1/0.55 ≈ 1.8, which plain bilinear resampling of
    this smooth image does without aliasing, and fast (area resampling of a large crop
    per item costs more than drawing the whole vessel tree).
    """
    work = _vessel_free()
    side = min(WORK, int(np.ceil(size * WORK / (0.55 * 2 * work.radius))))
    if side == WORK:
        return work
    pixels = F.interpolate(torch.from_numpy(work.pixels)[None], size=(side, side),
                           mode="area")[0].numpy()
    k = side / WORK
    to_small = lambda p: (p + 0.5) * k - 0.5  # noqa: E731 - pixel centres stay centres
    return _Background(pixels, to_small(work.centre), work.radius * k, to_small(work.disc),
                       to_small(work.fovea))


def _crop(pixels: np.ndarray, top, side: int, size: int) -> np.ndarray:
    """Bilinear resampling of the square ``side`` window at ``top`` to ``size`` pixels.

    The same sampling as ``F.interpolate(..., mode="bilinear", align_corners=False)``, in
    numpy: a small per-item operation that should not wait for torch's worker threads.
    """
    where = np.clip((np.arange(size) + 0.5) * (side / size) - 0.5, 0, side - 1)
    low = np.floor(where).astype(int)
    high = np.minimum(low + 1, side - 1)
    frac = (where - low).astype(np.float32)
    rows = (pixels[:, top[0] + low] * (1 - frac)[:, None]
            + pixels[:, top[0] + high] * frac[:, None])
    return rows[:, :, top[1] + low] * (1 - frac) + rows[:, :, top[1] + high] * frac


@dataclass(frozen=True)
class _Eye:
    """Where a tree may grow, in output pixels."""

    centre: np.ndarray  # of the field of view
    radius: float  # of the field of view
    fovea: np.ndarray  # vessels stop 0.12 radius short of it (the avascular zone)
    min_width: float  # branches thinner than this stop
    trunk: float  # width of the main vessels leaving the disc


def _walk(eye: _Eye, start, heading: float, turns: np.ndarray):
    """Follow ``turns`` (radians per step) from ``start``: (points, final heading, ended).

    Near the macula the walk also turns away from the fovea, so that vessels arch around
    it; it ends early on leaving the field of view or reaching the avascular fovea. Far from
    the fovea the path is a plain cumulative sum, done in one go; the steering needs the
    position at every step, so from the first point near the fovea on it is a loop.
    """
    radius, near = eye.radius, 0.4 * eye.radius
    angles = heading + np.cumsum(turns)
    path = start + np.cumsum(STEP * np.stack([np.sin(angles), np.cos(angles)], 1), 0)
    path = np.concatenate([[start], path])
    close = np.hypot(*(path - eye.fovea).T) < near
    free = int(np.argmax(close)) if close.any() else len(path)  # points before steering
    kept = path[:max(free, 1)]
    (row, col), heading = kept[-1], float(angles[free - 2]) if free >= 2 else float(heading)
    (fovea_row, fovea_col), points = eye.fovea, []
    for turn in turns[max(free, 1) - 1:]:
        heading += turn
        to_row, to_col = fovea_row - row, fovea_col - col
        dist = math.hypot(to_row, to_col)
        facing = (math.sin(heading) * to_row + math.cos(heading) * to_col) / max(dist, 1e-9)
        if dist < near and facing > 0:
            # cross > 0: the fovea lies on the side that a growing angle turns towards.
            cross = math.cos(heading) * to_row - math.sin(heading) * to_col
            heading -= math.copysign(0.15 * (1 - dist / near) * facing, cross)
        row, col = row + STEP * math.sin(heading), col + STEP * math.cos(heading)
        points.append((row, col))
    points = np.concatenate([kept, np.reshape(points, (-1, 2))])
    ended = ((np.hypot(*(points - eye.centre).T) > 0.97 * radius)
             | (np.hypot(*(points - eye.fovea).T) < 0.1 * radius))
    if ended.any():
        return points[:int(np.argmax(ended))], heading, True
    return points, heading, False


def _grow(rng, eye: _Eye, start, angle, width, curvature, depth, branches, budget=400):
    """Grow one branch from ``start`` and, recursively, its two children.

    Appends ``(points (m, 2), widths (m,))`` to ``branches``. Angles are in image
    coordinates: direction ``(sin a, cos a)`` in (row, col), so a positive curvature turns
    clockwise on screen.
    """
    if width < eye.min_width or depth > 9 or len(branches) >= budget:
        return
    length = eye.radius * rng.uniform(0.25, 0.5) * np.sqrt(width / eye.trunk)
    steps = max(2, int(length / STEP))
    # A drifting direction: steady curvature plus a random walk of the angle.
    turns = curvature * STEP + rng.normal(0.0, 0.06, steps)
    points, heading, ended = _walk(eye, np.asarray(start, float), float(angle), turns)
    if len(points) < 2:
        return
    widths = width * np.linspace(1.0, 0.9, len(points))  # slight taper along the branch
    branches.append((points, widths))
    if ended:
        return
    # Split with Murray's law: the larger child keeps most of the width and bends less.
    end, w = points[-1], widths[-1]
    big = w * rng.uniform(0.75, 0.92)
    small = (w**3 - big**3) ** (1 / 3)
    side = rng.choice([-1.0, 1.0])
    last = heading
    children = [(big, last + side * np.radians(rng.uniform(5, 25))),
                (small, last - side * np.radians(rng.uniform(30, 65)))]
    for child_width, child_angle in children:
        _grow(rng, eye, end, child_angle, child_width, curvature * 0.7, depth + 1, branches)


def _tree(rng, eye: _Eye, disc):
    """Main vessels leave the optic disc: temporal arcades around the macula, nasal trunks."""
    radius = eye.radius
    temporal = np.arctan2(*(eye.fovea - disc))  # from the disc towards the macula
    w0 = eye.trunk * rng.uniform(0.9, 1.1)
    bend = 1.0 / radius  # about one radian per field-of-view radius
    roots = [
        (temporal - np.radians(rng.uniform(40, 60)), w0, bend),  # superior temporal arcade
        (temporal + np.radians(rng.uniform(40, 60)), w0, -bend),  # inferior temporal arcade
        (temporal + np.pi - np.radians(rng.uniform(25, 55)), 0.8 * w0, 0.2 * bend),  # nasal
        (temporal + np.pi + np.radians(rng.uniform(25, 55)), 0.8 * w0, -0.2 * bend),
    ]
    for _ in range(int(rng.integers(1, 4))):  # small vessels straight from the disc
        roots.append((rng.uniform(-np.pi, np.pi), 0.5 * w0, 0.0))
    branches: list = []
    for angle, width, curvature in roots:
        start = disc + 0.04 * radius * np.array([np.sin(angle), np.cos(angle)])
        _grow(rng, eye, start, angle, width, curvature, 0, branches)
    return branches


def _draw(branches, size: int, w0: float) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise the branches: (coverage, darkening strength), both ``(size, size)``.

    Every pair of consecutive points is a capsule; each pixel near it gets the coverage
    ``clip(r - d + 0.5, 0, 1)``. Overlapping capsules take the maximum (a vessel drawn twice
    is no darker). Thin vessels are also paler, as in real photographs.
    """
    coverage = np.zeros(size * size, np.float32)
    strength = np.zeros(size * size, np.float32)
    if not branches:
        return coverage.reshape(size, size), strength.reshape(size, size)
    a = np.concatenate([p[:-1] for p, _ in branches]).astype(np.float32)
    b = np.concatenate([p[1:] for p, _ in branches]).astype(np.float32)
    r = np.concatenate([0.5 * w[:-1] for _, w in branches]).astype(np.float32)
    reach = r.max() + 1.0
    lo = np.floor(np.minimum(a, b) - reach).astype(np.int64)
    extent = int(np.ceil(STEP + 2 * reach)) + 1
    seen = (lo < size).all(1) & (lo + extent > 0).all(1)
    a, b, r, lo = a[seen], b[seen], r[seen], lo[seen]
    steps = np.arange(extent)
    rows = lo[:, :1] + np.repeat(steps, extent)[None]  # (segments, extent²)
    cols = lo[:, 1:] + np.tile(steps, extent)[None]
    # Distance from each pixel centre to the segment a→b: project, clamp, measure.
    ab = b - a
    pr, pc = rows - a[:, :1], cols - a[:, 1:]
    t = (pr * ab[:, :1] + pc * ab[:, 1:]) / np.maximum((ab * ab).sum(1, keepdims=True), 1e-12)
    np.clip(t, 0, 1, out=t)
    d = np.sqrt((pr - t * ab[:, :1]) ** 2 + (pc - t * ab[:, 1:]) ** 2)
    cov = np.clip(r[:, None] - d + 0.5, 0, 1)
    valid = (cov > 0) & (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    flat = (rows * size + cols)[valid]
    pale = (0.6 + 0.4 * np.minimum(1.0, 2 * r / w0)).astype(np.float32)
    np.maximum.at(coverage, flat, cov[valid])
    np.maximum.at(strength, flat, (cov * pale[:, None])[valid])
    return coverage.reshape(size, size), strength.reshape(size, size)


class RetinalVessels(SegmentationDataset):
    """Fundus images with a grown vessel tree; see :func:`~mednotes.data.retinal_vessels`."""

    classes = ("background", "vessel")

    def __init__(self, n: int, size: int = 128, seed: int = 0, *, noise: float = 0.01,
                 transform=None):
        super().__init__(n, seed, transform)
        self.size = check_int("size", size, 32, 1024)
        self.noise = check_number("noise", noise, 0.0, 1.0)
        self._bg = _background(self.size)
        self.meta = {
            "source": "skimage.data.retina() (M. Häggström, fundus photograph of a normal "
            "left eye) as background; its vessels removed by a morphological closing",
            "licence": "CC0 1.0 (public domain dedication); the vessel trees are generated here",
            "generation": "random crops of the vessel-free photograph; vessel tree grown "
            "from the optic disc (curvy branches, Murray's-law splits, anti-aliased "
            "width), darker mainly in green; mask = pixels whose centre is inside a vessel "
            f"(coverage >= 0.5); half mirrored; Gaussian noise sigma {self.noise}",
            "caveat": "faint remnants of the photograph's largest vessels may remain near the "
            "optic disc; they are not in the mask",
        }

    def render(self, index: int, *, vessels: bool = True, noise: bool = True):
        """Item ``index`` as ``(image, mask)``, optionally without vessels or noise."""
        index = self._index(index)
        vessels, noise = check_bool("vessels", vessels), check_bool("noise", noise)
        bg, size = self._bg, self.size
        rng = item_rng(self.seed, index, 0)
        mirror = rng.random() < 0.5
        # A square window inside the field of view's bounding square, drawn towards the disc
        # half of the time so that the tree's trunk is often in view.
        side = int(round(2 * bg.radius * rng.uniform(0.55, 1.0)))
        slack = bg.radius - side / 2
        middle = bg.centre + rng.uniform(0, 0.6) * (bg.disc - bg.centre)
        middle = middle + rng.uniform(-0.5, 0.5, 2) * slack
        middle = np.clip(middle, bg.centre - slack, bg.centre + slack)
        top = np.clip(np.round(middle - side / 2).astype(int), 0, bg.pixels.shape[-1] - side)
        crop = _crop(bg.pixels, top, side, size)
        gain = rng.uniform(0.92, 1.08, (3, 1, 1)).astype(np.float32)
        image = crop[:3] * gain
        fov = crop[3] >= 0.5
        # Geometry of the tree in output pixels (pixel centres at integer coordinates).
        scale = size / side
        to_out = lambda p: (p - top + 0.5) * scale - 0.5  # noqa: E731 - one-line map
        radius = bg.radius * scale
        mask = np.zeros((size, size), np.int64)
        if vessels:
            # Main vessels are about 2.8% of the field's radius wide, but at least 1.6 pixels
            # so that small images still show a tree. Below 0.8 pixel a vessel is invisible;
            # at high zoom, stop at 0.5% of the radius so that large images do not fill
            # with capillary tangles.
            eye = _Eye(to_out(bg.centre), radius, to_out(bg.fovea),
                       max(MIN_WIDTH, 0.005 * radius), max(1.6, 0.028 * radius))
            branches = _tree(rng, eye, to_out(bg.disc))
            coverage, strength = _draw(branches, size, eye.trunk)
            contrast = (CONTRAST * rng.uniform(0.85, 1.15)).astype(np.float32)[:, None, None]
            image = image * (1 - contrast * strength)
            mask[(coverage >= 0.5) & fov] = 1
        if noise and self.noise > 0:
            noisy = image + self.noise * item_rng(self.seed, index, 1).standard_normal(
                image.shape, dtype=np.float32)
            image = np.clip(noisy, 0, 1) * fov  # the camera sees nothing outside its field
        if mirror:
            image, mask = image[:, :, ::-1], mask[:, ::-1]
        return (torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(mask)))

    def clean(self, index: int) -> torch.Tensor:
        """The image of item ``index`` without vessels and without noise: ``(3, size, size)``."""
        return self.render(index, vessels=False, noise=False)[0]


def retinal_vessels(n: int, size: int = 128, seed: int = 0, *, noise: float = 0.01,
                    transform=None) -> RetinalVessels:
    """Colour fundus images with a grown, branching vessel tree and its exact vessel mask.

    Items are made on demand from ``(seed, index)``; the vessel-free background is computed
    once per process (about a second). Vessels are a thin, branching foreground (about
    2–10% of the pixels) whose width goes down to one pixel: the case where Dice and
    boundary-aware losses matter.

    Args:
        n: number of items.
        size: side in pixels (32 to 1024).
        seed: the same seed gives bit-identical items, in any order and any worker.
        noise: standard deviation of the added Gaussian noise (intensities are in [0, 1]).
        transform: ``transform(image, mask, generator)``, e.g. :func:`~mednotes.data.augmentation.augment`.

    Shape:
        image ``(3, size, size)`` float32 RGB in [0, 1]; mask ``(size, size)`` int64,
        0 background, 1 vessel.

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> ds = retinal_vessels(2, size=64)
        >>> image, mask = ds[1]
        >>> image.shape, mask.shape, ds.classes
        (torch.Size([3, 64, 64]), torch.Size([64, 64]), ('background', 'vessel'))
        >>> bool(image[1][mask == 1].mean() < ds.clean(1)[1][mask == 1].mean())  # darker
        True
    """
    return RetinalVessels(n, size, seed, noise=noise, transform=transform)

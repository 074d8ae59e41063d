"""Checks for the pathology chapter's practice: optical density, colour deconvolution with a
given stain matrix, and counting the tiles that background rejection keeps.

Used by ``exercises/12_stain_deconvolution.ipynb``; the chapter is
``book/applications/02_pathology``. Every reference is computed by :mod:`mednotes.data.stain`
and :mod:`mednotes.data.tiles`, never written down.
"""

from __future__ import annotations

import torch

from mednotes.course.compare import Check
from mednotes.data.stain import RGB_FROM_HED, optical_density, unmix
from mednotes.data.tiles import tile

#: The typed exercise: an 8-bit pixel (R, G, B) and the intensity of empty glass.
PIXEL, BACKGROUND = (120, 80, 160), 240


def _pixel_density() -> tuple[float, float, float]:
    """``-log10((I + 1) / I0)`` of :data:`PIXEL`, by the library, as (red, green, blue)."""
    return tuple(optical_density(torch.tensor(PIXEL, dtype=torch.float64),
                                 background=BACKGROUND, offset=1.0).tolist())


def _deconvolve(density: torch.Tensor, rgb_from_stains: torch.Tensor) -> torch.Tensor:
    """Amounts ``(P, 3)`` with ``density = amounts @ rgb_from_stains``, by :func:`unmix`."""
    image = density.T.reshape(3, -1, 1)
    return unmix(image, rgb_from_stains.T).reshape(3, -1).T


def _count(mask: torch.Tensor, size: int, min_tissue: float) -> int:
    """How many tiles :func:`~mednotes.data.tiles.tile` keeps (stride = size)."""
    image = torch.ones((3, *mask.shape))
    return len(tile(image, size, mask=mask, min_tissue=min_tissue))


def _deconvolution_cases() -> tuple[tuple, ...]:
    g = torch.Generator().manual_seed(12)
    ruifrok = torch.tensor(RGB_FROM_HED)
    other = torch.tensor([[0.55, 0.80, 0.25], [0.10, 0.95, 0.30], [0.30, 0.40, 0.87]],
                         dtype=torch.float64)
    cases = []
    for matrix, n in ((ruifrok, 1), (ruifrok, 5), (other, 4)):
        amounts = 0.05 + 0.5 * torch.rand(n, 3, generator=g, dtype=torch.float64)
        cases.append((amounts @ matrix, matrix))
    return tuple(cases)


def _tile_cases() -> tuple[tuple, ...]:
    """Masks with tiles exactly at the threshold, and sides the tile size does not divide."""
    cases = []
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:, :2] = True                   # left tiles hold exactly half tissue
    cases.append((mask, 4, 0.5))
    mask = torch.zeros(10, 12, dtype=torch.bool)
    mask[6:, 3:9] = True                 # 10 is not a multiple of 4: a last row flush at 6
    cases.append((mask, 4, 0.5))
    g = torch.Generator().manual_seed(3)
    blobs = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 40, 36, generator=g), 9, 1, 4)[0, 0]
    cases.append((blobs > blobs.median(), 8, 0.5))
    cases.append((blobs > blobs.median(), 16, 0.25))
    return tuple(cases)


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    return {
        "optical_density_pixel": Check(
            reference=_pixel_density,
            hint="Optical density is minus the base-10 logarithm of the fraction of light that "
                 "gets through: add the 1 to the pixel's value, divide by the background "
                 "intensity, then take -log10, channel by channel."),
        "deconvolve": Check(
            reference=_deconvolve, cases=_deconvolution_cases(),
            names=("one pixel with Ruifrok's matrix", "five pixels with Ruifrok's matrix",
                   "four pixels with another stain matrix"),
            hint="Each row of the density is a row vector of amounts times the matrix: "
                 "density = amounts @ M. Solve that for the amounts by multiplying on the "
                 "right by the inverse of M (M's rows are the stains, so do not transpose it)."),
        "count_tissue_tiles": Check(
            reference=_count, cases=_tile_cases(),
            names=("the 8×8 mask whose left tiles are exactly half tissue",
                   "the 10×12 mask, whose height is not a multiple of 4",
                   "the 40×36 blob mask in 8-pixel tiles",
                   "the 40×36 blob mask in 16-pixel tiles at min_tissue 0.25"),
            hint="Start tiles every `size` pixels from 0 and add one last tile flush with the "
                 "edge when the side is not a multiple of `size`; keep a tile when the mean of "
                 "the mask over it is at least min_tissue (>=, not >)."),
    }


__all__ = ["BACKGROUND", "PIXEL", "checks"]

"""H&E-like histology patches whose class is written in their nuclei.

Three image-level classes differ the way a pathologist's eye tells them apart: how many
nuclei there are, how large and how regular they are. Everything is drawn in the stain
space of haematoxylin (H, blue-purple, binds nuclei) and eosin (E, pink, cytoplasm and
stroma), then turned into RGB with scikit-image's ``hed2rgb``. How a sample is made:

1. Tissue layout: a random crop (turned by a multiple of 90°, maybe mirrored) of the real
   slide of :func:`mednotes.data.histology`, reduced to one smooth "how much tissue is
   here" map (its total stain density, blurred). It sets the eosin density, so glands,
   stroma and empty lumina have the real slide's shapes; the slide's own nuclei are blurred
   away and are not in the mask.
2. Nuclei: ellipses bent by low-frequency waves, placed preferably where there is tissue,
   never centred inside another; each carries haematoxylin with a chromatin texture.
3. Stain variation: each stain's density is scaled (0.7–1.3) and shifted per image, as
   staining and scanning differ between labs; then RGB, plus mild noise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from mednotes._checks import check_bool, check_int, check_number, describe
from mednotes.data.images import histology
from mednotes.data.synthetic import Blob, SeededDataset, item_rng


@dataclass(frozen=True)
class NucleusLook:
    """What the nuclei of one class look like (lengths in pixels)."""

    density: float  # nuclei per pixel of patch
    radius: float  # mean radius
    radius_sd: float  # spread of the radius between nuclei (pleomorphism)
    elongation: tuple[float, float]  # range of the long/short axis ratio
    irregularity: float  # bending of the outline, fraction of the radius
    stain: tuple[float, float]  # range of haematoxylin density (darker = hyperchromatic)
    chromatin: float  # contrast of the chromatin texture inside the nucleus


LOOKS: dict[str, NucleusLook] = {
    "normal": NucleusLook(0.0025, 2.6, 0.25, (1.0, 1.3), 0.03, (0.07, 0.09), 0.15),
    # Hyperplasia: more cells of the same kind, so denser and a little crowded (elongated).
    "hyperplastic": NucleusLook(0.0075, 2.7, 0.3, (1.1, 1.6), 0.06, (0.07, 0.09), 0.2),
    # Atypia: large, variable, irregular, dark nuclei with coarse chromatin.
    "atypical": NucleusLook(0.003, 4.2, 1.0, (1.0, 1.9), 0.18, (0.10, 0.13), 0.35),
}


#: The default stain variation: each stain's density scaled by U(0.7, 1.3), then shifted by
#: U(-0.004, 0.004), independently for haematoxylin and eosin.
STAIN_SCALE = ((0.7, 1.3), (0.7, 1.3))
STAIN_SHIFT = ((-0.004, 0.004), (-0.004, 0.004))


def _stain_ranges(name: str, value, positive: bool) -> tuple[tuple[float, float], ...]:
    """``(low, high)`` for both stains, or ``((low_h, high_h), (low_e, high_e))``."""
    def pair(label, item):
        if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)) \
                or len(item) != 2:
            raise TypeError(f"{name} must be a (low, high) pair, or one pair per stain "
                            f"((low_h, high_h), (low_e, high_e)); got {describe(value)}")
        low, high = (check_number(f"{label}[{i}]", v, 0.0 if positive else None,
                                  open_low=positive) for i, v in enumerate(item))
        if low > high:
            raise ValueError(f"{label} must have low <= high, got {tuple(item)!r}")
        return low, high

    if isinstance(value, (tuple, list)) and len(value) == 2 \
            and all(isinstance(v, (tuple, list)) for v in value):
        return tuple(pair(f"{name}[{i}]", v) for i, v in enumerate(value))
    return (pair(name, value),) * 2


@functools.cache
def _tissue_map() -> np.ndarray:
    """How much stain is on the real slide, blurred and scaled to [0, 1]: ``(512, 512)``."""
    from skimage.color import rgb2hed

    slide, _ = histology()
    hed = rgb2hed(slide.permute(1, 2, 0).numpy())
    density = ndimage.gaussian_filter(hed[..., 0] + hed[..., 2], 2.0)
    low, high = np.percentile(density, [1, 99])
    return np.clip((density - low) / (high - low), 0, 1).astype(np.float32)


class HistologyPatches(SeededDataset):
    """H&E-like patches with normal, hyperplastic or atypical nuclei; see
    :func:`~mednotes.data.histology_patches`."""

    classes = tuple(LOOKS)
    mask_classes = ("background", "nucleus")

    def __init__(self, n: int, size: int = 64, seed: int = 0, *, return_mask: bool = False,
                 stain_variation: bool = True, noise: float = 0.01, transform=None,
                 stain_scale=STAIN_SCALE, stain_shift=STAIN_SHIFT):
        super().__init__(n, seed, transform)
        self.size = check_int("size", size, 32, 512)
        self.noise = check_number("noise", noise, 0.0, 1.0)
        self.return_mask = check_bool("return_mask", return_mask)
        self.stain_variation = check_bool("stain_variation", stain_variation)
        self.stain_scale = _stain_ranges("stain_scale", stain_scale, positive=True)
        self.stain_shift = _stain_ranges("stain_shift", stain_shift, positive=False)
        (h_low, h_high), (e_low, e_high) = self.stain_scale
        scale_text = (f"{h_low:g}-{h_high:g}" if self.stain_scale[0] == self.stain_scale[1]
                      else f"haematoxylin {h_low:g}-{h_high:g}, eosin {e_low:g}-{e_high:g}")
        self._tissue = _tissue_map()
        self.meta = {
            "source": "skimage.data.immunohistochemistry() (CMMI) for the tissue layout only",
            "licence": "no known copyright restrictions; the nuclei and staining are "
            "generated here",
            "generation": "haematoxylin/eosin densities drawn in HED space and converted "
            "with skimage.color.hed2rgb: eosin follows the blurred stain density of a "
            "random crop of the real slide; nuclei are bent ellipses whose number, size, "
            "shape and darkness depend on the class (LOOKS); per-image stain scaling "
            f"{scale_text}; Gaussian noise sigma {self.noise}",
            "labels": "image-level: class = index % 3 (balanced); nuclei mask with "
            "return_mask=True",
        }

    def label(self, index: int) -> int:
        """The class of item ``index``: the classes take turns, so they are balanced."""
        return self._index(index) % len(self.classes)

    def render(self, index: int, *, noise: bool = True):
        """Item ``index`` as ``(image, label, nuclei mask)``, before any transform."""
        from skimage.color import hed2rgb

        index = self._index(index)
        noise = check_bool("noise", noise)
        size, label = self.size, self.label(index)
        look = LOOKS[self.classes[label]]
        rng = item_rng(self.seed, index, 0)
        top = rng.integers(0, self._tissue.shape[0] - size + 1, 2)
        tissue = self._tissue[top[0]:top[0] + size, top[1]:top[1] + size]
        tissue = np.rot90(tissue, int(rng.integers(4)))
        tissue = tissue[:, ::-1] if rng.random() < 0.5 else tissue
        # Stroma: eosin where there is tissue, with fibres (noise stretched along one axis).
        fibres = ndimage.gaussian_filter(rng.standard_normal((size, size)), (0.7, 3.0))
        fibres /= fibres.std() + 1e-12
        eosin = 0.01 + 0.045 * tissue + 0.004 * fibres
        haem = 0.005 + 0.01 * tissue
        chromatin = ndimage.gaussian_filter(rng.standard_normal((size, size)),
                                            1.2 if look.chromatin > 0.3 else 0.8)
        chromatin *= look.chromatin / (chromatin.std() + 1e-12)
        mask = np.zeros((size, size), bool)
        wanted = int(rng.poisson(look.density * size * size))
        placed = 0
        for _ in range(20 * wanted):  # rejection sampling; gives up on very crowded patches
            if placed == wanted:
                break
            centre = rng.uniform(-0.5, size - 0.5, 2)
            row, col = np.clip(np.round(centre).astype(int), 0, size - 1)
            # Nuclei sit in tissue rather than in empty lumina, and not on top of each other.
            if mask[row, col] or rng.random() > 0.25 + 0.75 * tissue[row, col]:
                continue
            radius = max(1.2, rng.normal(look.radius, look.radius_sd))
            blob = Blob.random(rng, centre, radius, elongation=look.elongation,
                               irregularity=look.irregularity, edge=1.0)
            region, occupancy = blob.render((size, size))
            density = rng.uniform(*look.stain) * (1 + chromatin[region])
            haem[region] = np.maximum(haem[region], occupancy * density)
            eosin[region] = eosin[region] * (1 - 0.6 * occupancy)
            mask[region] |= occupancy >= 0.5
            placed += 1
        if self.stain_variation:
            scale = rng.uniform(*zip(*self.stain_scale))   # (H, E): same draws as (0.7, 1.3, 2)
            shift = rng.uniform(*zip(*self.stain_shift))
            haem, eosin = haem * scale[0] + shift[0], eosin * scale[1] + shift[1]
        hed = np.stack([np.maximum(haem, 0), np.maximum(eosin, 0), np.zeros_like(haem)], -1)
        image = hed2rgb(hed).astype(np.float32).transpose(2, 0, 1)
        if noise and self.noise > 0:
            image = image + self.noise * item_rng(self.seed, index, 1).standard_normal(
                image.shape, dtype=np.float32)
        image = np.clip(image, 0, 1)
        return (torch.from_numpy(np.ascontiguousarray(image)), torch.tensor(label),
                torch.from_numpy(mask.astype(np.int64)))

    def __getitem__(self, index):
        i = self._index(index)
        image, label, mask = self.render(i)
        image, mask = self._augment(i, image, mask)
        return (image, label, mask) if self.return_mask else (image, label)


def histology_patches(n: int, size: int = 64, seed: int = 0, *, return_mask: bool = False,
                      stain_variation: bool = True, noise: float = 0.01,
                      transform=None, stain_scale=STAIN_SCALE,
                      stain_shift=STAIN_SHIFT) -> HistologyPatches:
    """H&E-like patches labelled normal, hyperplastic (dense) or atypical (large, irregular).

    An image-level classification set: the label is in the nuclei, which differ by class in
    density, size, shape and darkness (see ``LOOKS``); stain colours vary per image, so a
    classifier must look at structure, not hue. Items are made on demand from
    ``(seed, index)``; classes take turns with the index (balanced).

    Args:
        n: number of items.
        size: side in pixels (32 to 512); nuclei keep their size in pixels, so a larger
            patch shows more of them.
        seed: the same seed gives bit-identical items, in any order and any worker.
        return_mask: also return the nuclei mask (0 background, 1 nucleus).
        stain_variation: scale and shift the stain densities per image.
        noise: standard deviation of the added Gaussian noise.
        transform: ``transform(image, mask, generator)``; the nuclei mask moves along.
        stain_scale: range ``(low, high)`` of the per-image factor of each stain's density,
            or one range per stain, ``((low_h, high_h), (low_e, high_e))`` (haematoxylin,
            eosin); with ``stain_variation``. Another range gives another "lab": train on
            one, test on another.
        stain_shift: range of the per-image shift of each stain's density, as ``stain_scale``.

    Shape:
        image ``(3, size, size)`` float32 RGB in [0, 1]; label ``()`` int64 index into
        ``.classes``; with ``return_mask`` also the mask ``(size, size)`` int64.

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> ds = histology_patches(3, size=32)
        >>> image, label = ds[2]
        >>> image.shape, ds.classes[label]
        (torch.Size([3, 32, 32]), 'atypical')
        >>> histology_patches(3, size=32, return_mask=True)[0][2].shape
        torch.Size([32, 32])
        >>> darker = histology_patches(3, size=32, stain_scale=((1.5, 1.5), (0.7, 1.3)))
        >>> bool(darker[0][0].mean() < ds[0][0].mean())     # more haematoxylin: darker
        True
    """
    return HistologyPatches(n, size, seed, return_mask=return_mask,
                            stain_variation=stain_variation, noise=noise, transform=transform,
                            stain_scale=stain_scale, stain_shift=stain_shift)

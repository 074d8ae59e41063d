"""Cut a large image into tiles, keep those with tissue, and stitch per-tile results back.

A whole-slide image is far too large for a network, so pathology models see it as tiles
(patches) of a few hundred pixels. Much of a slide is empty glass, or lumina inside the
tissue; tiles of background cost time and teach nothing, so each tile's *tissue fraction*
(the share of its pixels that absorb light) decides whether it is kept. After a classifier
has scored the kept tiles, :func:`stitch` paints the scores back where the tiles came from:
a heat map over the slide.

Explained in: Pathology: patch classification on histology.

Tested against: a synthetic image with a tissue region of known position (exactly the right
tiles are kept), and :func:`stitch` undoing :func:`tile` on constant maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mednotes._checks import check_choice, check_int, check_number, check_tensor
from mednotes.data.stain import optical_density

__all__ = ["Tiles", "stitch", "tile", "tile_starts", "tissue_mask"]

#: How a pixel is called tissue: its optical density (length of the RGB OD vector) or its
#: saturation (``(max - min) / max`` of R, G, B) above a threshold.
METHODS = ("density", "saturation")
#: The default threshold of each method: Macenko's beta for OD; 0.1 for saturation.
THRESHOLDS = {"density": 0.15, "saturation": 0.1}


def _check_image(image: object) -> torch.Tensor:
    check_tensor("image", image)
    if image.dim() != 3:
        raise ValueError(f"image must be one image (C, H, W), got shape {tuple(image.shape)}")
    if 0 in image.shape:
        raise ValueError(f"image is empty: shape {tuple(image.shape)}")
    return image


def tissue_mask(image: torch.Tensor, method: str = "density",
                threshold: float | None = None) -> torch.Tensor:
    """Which pixels of an RGB brightfield image hold tissue (True) rather than empty glass.

    ``"density"``: the length of the pixel's optical-density vector
    (:func:`~mednotes.data.stain.optical_density` of R, G, B, white background 1) exceeds
    ``threshold`` (default 0.15). ``"saturation"``: its HSV saturation exceeds ``threshold``
    (default 0.1); stained tissue is coloured, glass is grey or white.

    Args:
        image: ``(3, H, W)`` RGB in [0, 1].
        method: ``"density"`` or ``"saturation"``.
        threshold: the cut-off, >= 0; None for the method's default.

    Shape:
        ``(3, H, W)`` -> ``(H, W)`` bool.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> image = torch.ones(3, 4, 4); image[:, :2] = torch.tensor([0.5, 0.2, 0.6])[:, None, None]
        >>> tissue_mask(image).sum().item(), tissue_mask(image, "saturation").sum().item()
        (8, 8)
    """
    _check_image(image)
    if image.shape[0] != 3:
        raise ValueError(f"image must be RGB (3, H, W), got {image.shape[0]} channels")
    check_choice("method", method, METHODS)
    threshold = THRESHOLDS[method] if threshold is None else check_number("threshold",
                                                                          threshold, 0.0)
    if method == "density":
        return optical_density(image).norm(dim=0) > threshold
    high, low = image.amax(0), image.amin(0)
    return (high - low) / high.clamp(min=1e-6) > threshold


def tile_starts(length: int, size: int, stride: int) -> list[int]:
    """Where tiles of ``size`` start along an axis of ``length`` so that every pixel is covered.

    Every ``stride`` pixels from 0, plus one last tile flush with the end when the grid stops
    short of it (that tile overlaps its neighbour more than the others do).

    Example:
        >>> tile_starts(10, 4, 4)
        [0, 4, 6]
        >>> tile_starts(8, 4, 2)
        [0, 2, 4]
    """
    length = check_int("length", length, 1)
    size = check_int("size", size, 1)
    stride = check_int("stride", stride, 1)
    if size > length:
        raise ValueError(f"size {size} is larger than the image side {length}")
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


@dataclass(frozen=True)
class Tiles:
    """The kept tiles of one image, where they came from, and how much tissue each holds.

    Attributes:
        tiles: ``(K, C, size, size)``.
        coords: ``(K, 2)`` int64, the (row, column) of each tile's top-left pixel.
        tissue: ``(K,)`` float, the fraction of each tile's pixels that hold tissue.
        size: the tile side in pixels.
        image_size: ``(H, W)`` of the image they were cut from.
    """

    tiles: torch.Tensor
    coords: torch.Tensor
    tissue: torch.Tensor
    size: int
    image_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.coords)


def tile(image: torch.Tensor, size: int, stride: int | None = None, *,
         min_tissue: float = 0.5, mask: torch.Tensor | None = None,
         method: str = "density", threshold: float | None = None) -> Tiles:
    """Cut ``image`` into ``size``×``size`` tiles and keep those with enough tissue.

    The tiles start every ``stride`` pixels (:func:`tile_starts`, so the grid covers the whole
    image); a tile is kept when at least ``min_tissue`` of its pixels are tissue.

    Args:
        image: ``(C, H, W)``; RGB in [0, 1] unless ``mask`` is given.
        size: tile side in pixels.
        stride: step between tiles (default ``size``: no overlap).
        min_tissue: the smallest tissue fraction kept, in [0, 1]; 0 keeps every tile.
        mask: ``(H, W)`` bool tissue mask to use instead of :func:`tissue_mask`.
        method, threshold: passed to :func:`tissue_mask`.

    Returns:
        a :class:`Tiles`, in row-major order of the grid.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> image = torch.ones(3, 8, 8); image[:, :4, :4] = 0.3    # tissue in the top-left
        >>> kept = tile(image, 4)
        >>> kept.coords.tolist(), kept.tissue.tolist()
        ([[0, 0]], [1.0])
        >>> len(tile(image, 4, min_tissue=0.0))
        4
    """
    _check_image(image)
    height, width = image.shape[-2:]
    size = check_int("size", size, 1)
    if size > min(height, width):
        raise ValueError(f"size {size} is larger than the image ({height}×{width})")
    stride = size if stride is None else check_int("stride", stride, 1)
    min_tissue = check_number("min_tissue", min_tissue, 0.0, 1.0)
    if mask is None:
        mask = tissue_mask(image, method, threshold)
    elif not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool torch.Tensor (True = tissue), got "
                        f"{type(mask).__name__}{'' if not isinstance(mask, torch.Tensor) else ' of dtype ' + str(mask.dtype)}")
    elif tuple(mask.shape) != (height, width):
        raise ValueError(f"mask must have the image's size {(height, width)}, got "
                         f"{tuple(mask.shape)}")
    rows, cols = tile_starts(height, size, stride), tile_starts(width, size, stride)
    coords = torch.tensor([(r, c) for r in rows for c in cols], dtype=torch.int64)
    # the tissue fraction of every tile at once: a mean filter over the mask
    fraction = torch.nn.functional.avg_pool2d(
        mask[None, None].to(image.dtype if image.is_floating_point() else torch.float32),
        size, stride=1)[0, 0]
    tissue = fraction[coords[:, 0].to(mask.device), coords[:, 1].to(mask.device)].cpu()
    keep = tissue >= min_tissue - 1e-6
    coords, tissue = coords[keep], tissue[keep]
    tiles = torch.stack([image[:, r:r + size, c:c + size] for r, c in coords.tolist()]) \
        if len(coords) else image.new_zeros((0, image.shape[0], size, size))
    return Tiles(tiles, coords, tissue, size, (height, width))


def stitch(values: torch.Tensor, coords: torch.Tensor, size: int,
           image_size: tuple[int, int]) -> torch.Tensor:
    """Paint one value (or one vector) per tile back onto the image grid: a heat map.

    Each pixel gets the mean of the values of the tiles that cover it; a pixel no kept tile
    covers is NaN (so a plot leaves it blank rather than calling it 0).

    Args:
        values: ``(K,)`` one number per tile, or ``(K, C)`` one vector per tile (class
            probabilities, say).
        coords: ``(K, 2)`` top-left (row, column) of each tile, as :func:`tile` returns.
        size: tile side in pixels.
        image_size: ``(H, W)`` of the image.

    Shape:
        ``(H, W)``, or ``(C, H, W)`` for vectors; float, on ``values``' device.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> kept = tile(torch.full((3, 8, 8), 0.3), 4)
        >>> heat = stitch(torch.tensor([1.0, 2.0, 3.0, 4.0]), kept.coords, 4, (8, 8))
        >>> heat[::4, ::4]
        tensor([[1., 2.],
                [3., 4.]])
    """
    check_tensor("values", values)
    if values.dim() not in (1, 2):
        raise ValueError(f"values must be (K,) or (K, C), got shape {tuple(values.shape)}")
    if not isinstance(coords, torch.Tensor) or coords.is_floating_point() \
            or coords.dim() != 2 or coords.shape[1] != 2:
        raise TypeError("coords must be an integer tensor (K, 2) of top-left (row, column), "
                        f"as tile() returns; got {coords!r:.60}")
    if len(coords) != len(values):
        raise ValueError(f"values has {len(values)} entries but coords has {len(coords)} tiles")
    size = check_int("size", size, 1)
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise TypeError(f"image_size must be a pair (H, W), got {image_size!r}")
    height, width = (check_int(f"image_size[{i}]", v, 1) for i, v in enumerate(image_size))
    if len(coords) and (coords.min() < 0 or coords[:, 0].max() + size > height
                        or coords[:, 1].max() + size > width):
        raise ValueError(f"coords put a tile of size {size} outside the image {height}×{width}")
    vectors = values[:, None] if values.dim() == 1 else values
    total = vectors.new_zeros((vectors.shape[1], height, width))
    count = vectors.new_zeros((height, width))
    for (r, c), v in zip(coords.tolist(), vectors):
        total[:, r:r + size, c:c + size] += v[:, None, None]
        count[r:r + size, c:c + size] += 1
    heat = total / count
    return heat[0] if values.dim() == 1 else heat

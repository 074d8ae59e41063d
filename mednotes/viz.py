"""The house style for figures: one look across every chapter.

Anatomy in grey, feature maps and spectra in a perceptually uniform map, signed maps in a
diverging map centred on zero, masks as translucent overlays with a legend.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import TwoSlopeNorm

ANATOMY_CMAP = "gray"
FEATURE_CMAP = "viridis"
SIGNED_CMAP = "RdBu_r"


def as_numpy(image) -> np.ndarray:
    """A detached CPU numpy copy of a tensor or array (channels-first RGB becomes HWC).

    Example:
        >>> as_numpy(torch.zeros(3, 4, 5)).shape
        (4, 5, 3)
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().to("cpu", torch.float32).numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[-1] not in (3, 4):
        image = np.moveaxis(image, 0, -1)
    return image


def imshow(ax, image, *, kind: str = "anatomy", title: str | None = None,
           colorbar: str | None = None, vmin=None, vmax=None, **kwargs):
    """Draw one image on ``ax`` in the house style.

    Args:
        ax: a matplotlib axes.
        image: 2D (grey) or 3×H×W / H×W×3 (colour) tensor or array.
        kind: ``"anatomy"`` (grey), ``"feature"`` (viridis) or ``"signed"`` (diverging,
            centred on zero).
        title: panel title.
        colorbar: label of a colour bar to add, or None for no colour bar.

    Example:
        >>> fig, ax = plt.subplots()
        >>> _ = imshow(ax, torch.randn(8, 8), kind="signed", title="edges", colorbar="response")
        >>> plt.close(fig)
    """
    kinds = {"anatomy": ANATOMY_CMAP, "feature": FEATURE_CMAP, "signed": SIGNED_CMAP}
    if kind not in kinds:
        raise ValueError(f"kind must be one of {', '.join(kinds)}, got {kind!r}")
    pixels = as_numpy(image)
    if kind == "signed" and pixels.ndim == 2:
        bound = float(np.abs(pixels).max()) or 1.0
        kwargs.setdefault("norm", TwoSlopeNorm(0.0, -bound, bound))
    elif pixels.ndim == 2:
        kwargs.update(vmin=vmin, vmax=vmax)
    shown = ax.imshow(pixels, cmap=kinds[kind] if pixels.ndim == 2 else None,
                      interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar and pixels.ndim == 2:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label=colorbar)
    return shown


def image_grid(images: Sequence, titles: Sequence[str] | None = None, *,
               kind: str | Sequence[str] = "anatomy",
               ncols: int | None = None, size: float = 3.0, colorbar: str | None = None,
               suptitle: str | None = None):
    """Show several images side by side in the house style; returns the figure.

    Args:
        images: 2D or colour images (tensors or arrays).
        titles: one title per image.
        kind: the colour map kind for all panels, or one per panel (see :func:`imshow`).
        ncols: panels per row; all in one row by default.
        size: inches per panel.
        colorbar: label of a colour bar for each grey-valued panel, or None.
        suptitle: a title over the whole figure.

    Example:
        >>> fig = image_grid([torch.rand(8, 8), torch.rand(8, 8)], ["a", "b"])
        >>> len(fig.axes)
        2
        >>> plt.close(fig)
    """
    images = list(images)
    if not images:
        raise ValueError("images must hold at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles has {len(titles)} entries, images has {len(images)}")
    kinds = [kind] * len(images) if isinstance(kind, str) else list(kind)
    if len(kinds) != len(images):
        raise ValueError(f"kind has {len(kinds)} entries, images has {len(images)}")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            imshow(ax, images[i], kind=kinds[i], title=titles[i] if titles else None,
                   colorbar=colorbar)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig

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


#: Colours of mask classes 1, 2, ... in order; class 0, the background, stays uncoloured. Bright,
#: distinct from each other and from grey anatomy, red fundus and pink/purple histology.
MASK_COLORS = ("#00d5ff", "#ffd400", "#ff3b3b", "#3bff6e", "#c04bff", "#ff8c1a", "#1a6bff",
               "#ff4fd8")


def _picture(image) -> np.ndarray:
    """A 2D grey or HWC colour array for display (single channel squeezed, colour clipped)."""
    pixels = as_numpy(image)
    if pixels.ndim == 3 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim == 3:
        pixels = np.clip(pixels, 0.0, 1.0)
    if pixels.ndim not in (2, 3):
        raise ValueError(f"image must be 2D grey or 3-channel colour, got shape {pixels.shape}")
    return pixels


def overlay(ax, image, mask, labels: Sequence[str] | None = None, *, alpha: float = 0.45,
            colors: Sequence[str] | None = None, title: str | None = None,
            legend: bool = True) -> list:
    """Draw an image with its label mask on top as translucent colours, with a legend.

    Args:
        ax: a matplotlib axes.
        image: 2D grey image (shown as anatomy) or colour image, tensor or array; a
            ``(1, H, W)`` image counts as grey.
        mask: ``(H, W)`` integer label map; 0 is background and stays uncoloured.
        labels: class names indexed by label value (``labels[0]`` is the background), e.g.
            a dataset's ``.classes``; default ``"class 1"``, ``"class 2"``, ...
        alpha: opacity of the colours.
        colors: one colour per class 1, 2, ...; default :data:`MASK_COLORS`.
        title: panel title.
        legend: draw the legend on ``ax`` (the handles are returned either way).

    Returns:
        The legend handles, one per non-background class.

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> fig, ax = plt.subplots()
        >>> mask = torch.zeros(8, 8, dtype=torch.long); mask[2:4, 2:4] = 1
        >>> handles = overlay(ax, torch.rand(8, 8), mask, ("background", "lesion"))
        >>> [h.get_label() for h in handles]
        ['lesion']
        >>> plt.close(fig)
    """
    pixels = _picture(image)
    labels_map = as_numpy(mask)
    if labels_map.shape != pixels.shape[:2]:
        raise ValueError(f"mask shape {labels_map.shape} must match the image's "
                         f"{pixels.shape[:2]}")
    labels_map = labels_map.astype(np.int64)
    count = len(labels) if labels is not None else int(labels_map.max(initial=0)) + 1
    if labels_map.size and (labels_map.min() < 0 or labels_map.max() >= count):
        raise ValueError(f"mask values must lie in [0, {count - 1}] (one per label), got "
                         f"{labels_map.min()}..{labels_map.max()}")
    names = list(labels) if labels is not None else [f"class {k}" for k in range(count)]
    palette = list(colors) if colors is not None else list(MASK_COLORS)
    if count - 1 > len(palette):
        raise ValueError(f"{count - 1} classes need colours, colors has {len(palette)}")
    imshow(ax, pixels, kind="anatomy", title=title)
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    layer = np.zeros((*labels_map.shape, 4))
    handles = []
    for k in range(1, count):
        layer[labels_map == k] = (*to_rgb(palette[k - 1]), alpha)
        handles.append(Patch(facecolor=palette[k - 1], edgecolor="none", label=names[k]))
    ax.imshow(layer, interpolation="nearest")
    if legend and handles:
        ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.7)
    return handles


def _split_item(item, image_dims: int):
    """(image, label or None, mask or None) from a dataset item of any of the book's kinds."""
    image = item[0]
    if len(item) >= 3:
        return image, item[1], item[2]
    target = item[1]
    if isinstance(target, torch.Tensor) and target.ndim == image_dims - 1 and target.ndim >= 2:
        return image, None, target
    return image, target, None


def _label_text(label, classes) -> str:
    if label is None:
        return ""
    label = torch.as_tensor(label)
    if label.ndim == 0:
        k = int(label)
        return classes[k] if classes and k < len(classes) else str(k)
    on = [classes[k] if classes else str(k) for k in torch.nonzero(label).flatten().tolist()]
    return ", ".join(on) or "none"  # multi-label: the names of the positive labels


def show_samples(dataset, n: int = 4, *, indices: Sequence[int] | None = None,
                 alpha: float = 0.45, size: float = 2.6, suptitle: str | None = None):
    """A figure of dataset items: the images on top, their masks as overlays below.

    Works with the book's datasets: ``(image, mask)`` items (segmentation),
    ``(image, label)`` items (classification: one row, the class in the title) and
    ``(image, label, mask)`` items. A 3D item shows the axial slice with the most
    foreground in its mask (the middle slice without one). The legend names
    ``dataset.classes`` (``dataset.mask_classes`` for a mask beside a label).

    Args:
        dataset: indexable, e.g. :func:`mednotes.data.brain_lesions`.
        n: number of items (the first ``n``), unless ``indices`` is given.
        indices: which items to show.
        alpha: opacity of the mask colours.
        size: inches per panel.
        suptitle: a title over the whole figure.

    Returns:
        The figure: 2 rows of ``n`` panels with masks, 1 row without.

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> from mednotes.data import retinal_vessels
        >>> fig = show_samples(retinal_vessels(2, size=32), n=2)
        >>> len(fig.axes)
        4
        >>> plt.close(fig)
    """
    if indices is None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        indices = range(min(n, len(dataset)))
    indices = list(indices)
    if not indices:
        raise ValueError("indices must name at least one item")
    classes = getattr(dataset, "classes", None)
    panels = []
    for i in indices:
        item = dataset[i]
        image, label, mask = _split_item(item, item[0].ndim)
        note = ""
        if image.ndim == 4:  # (C, D, H, W): pick an axial slice
            depth = image.shape[1]
            z = depth // 2
            if mask is not None and bool(mask.any()):
                z = int((mask > 0).flatten(1).sum(1).argmax())
            image, mask, note = image[:, z], (mask[z] if mask is not None else None), f", z={z}"
        names = getattr(dataset, "mask_classes", classes) if len(item) >= 3 else classes
        text = _label_text(label, classes)
        panels.append((image, mask, f"#{i}" + (f": {text}" if text else "") + note, names))
    with_masks = any(mask is not None for _, mask, _, _ in panels)
    rows = 2 if with_masks else 1
    fig, axes = plt.subplots(rows, len(panels), figsize=(size * len(panels), size * rows),
                             squeeze=False)
    handles = []
    for j, (image, mask, title, names) in enumerate(panels):
        imshow(axes[0, j], _picture(image), kind="anatomy", title=title)
        if with_masks:
            if mask is None:
                axes[1, j].axis("off")
                continue
            drawn = overlay(axes[1, j], image, mask, names, alpha=alpha, legend=False,
                            title="mask overlay")
            handles = drawn if len(drawn) > len(handles) else handles
    if suptitle:
        fig.suptitle(suptitle)
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5),
                   fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.1 if rows == 2 else 0.15, 1, 1))
    else:
        fig.tight_layout()
    return fig


def reliability_diagram(ax, probs, target, n_bins: int = 15, *, title: str | None = None,
                        label: str = "model") -> float:
    """Draw a reliability diagram on ``ax``: accuracy against confidence, bin by bin.

    Bars show each bin's accuracy; the diagonal is perfect calibration, and the red part of a
    bar is the gap between the bin's accuracy and its mean confidence (below the diagonal:
    overconfident). Empty bins have no bar. The legend gives the expected calibration error.

    Args:
        ax: a matplotlib axes.
        probs, target, n_bins: as in :func:`mednotes.metrics.calibration_bins`.
        title: panel title.
        label: what the bars show, for the legend.

    Returns:
        The expected calibration error, as a float.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Example:
        >>> fig, ax = plt.subplots()
        >>> probs = torch.tensor([[0.9, 0.1]]).repeat(4, 1)       # always 90 % sure
        >>> round(reliability_diagram(ax, probs, torch.tensor([0, 1, 0, 1]), n_bins=10), 3)
        0.4
        >>> plt.close(fig)
    """
    from mednotes.metrics import calibration_bins, expected_calibration_error

    bins = calibration_bins(probs, target, n_bins)
    ece = float(expected_calibration_error(probs, target, n_bins))
    edges = bins.edges.cpu().numpy()
    width = np.diff(edges)
    accuracy, confidence = bins.accuracy.cpu().numpy(), bins.confidence.cpu().numpy()
    shown = bins.count.cpu().numpy() > 0
    left = edges[:-1][shown]
    ax.bar(left, accuracy[shown], width=width[shown], align="edge", color="#4c72b0",
           edgecolor="white", label=f"{label} (ECE = {ece:.3f})")
    low, high = np.minimum(accuracy, confidence)[shown], np.maximum(accuracy, confidence)[shown]
    ax.bar(left, high - low, bottom=low, width=width[shown], align="edge", color="#d62728",
           alpha=0.35, edgecolor="none", label="gap to the mean confidence")
    ax.plot([0, 1], [0, 1], color="0.3", linestyle="--", linewidth=1,
            label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal")
    ax.set_xlabel("confidence", fontsize=10)
    ax.set_ylabel("accuracy", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.8)
    if title:
        ax.set_title(title, fontsize=10)
    return ece

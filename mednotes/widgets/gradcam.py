"""The Grad-CAM layer viewer: where each layer of a classifier looks, as a heat map.

Grad-CAM (:func:`mednotes.explain.grad_cam`) can be taken at any convolutional layer. Early
layers give sharp maps of edges and blobs that hardly depend on the class; late layers give
coarse maps that do. The viewer precomputes the map of every chosen layer for a few images
(:func:`~mednotes.widgets.gradcam.grad_cam_layers`) and shows one over its image; a slider
picks the layer, another the image.

Explained in: Trust and interpretability.

Tested against: :func:`mednotes.explain.grad_cam` called layer by layer.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import animation
from matplotlib.figure import Figure

from mednotes._checks import check_int, check_tensor, describe
from mednotes.widgets._figure import FigureFrames, check_interval_ms

__all__ = ["grad_cam_animation", "grad_cam_explorer", "grad_cam_layers"]


def grad_cam_layers(model: torch.nn.Module, images: torch.Tensor, target, layers: dict,
                    ) -> dict[str, np.ndarray]:
    """The Grad-CAM map of every layer in ``layers`` for every image, upsampled and scaled.

    Args:
        model: the classifier, in eval mode.
        images: ``(N, C, H, W)``.
        target: the class to explain: an int, or one per image.
        layers: ``{name: module}``, in the order the viewer offers them.

    Returns:
        ``{name: maps}``, each ``(N, H, W)`` float32 in [0, 1]: the map divided by its
        image's maximum (all zero where Grad-CAM found nothing positive).

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
        >>> maps = grad_cam_layers(net, torch.randn(2, 1, 8, 8), 1, {"conv": net[1]})
        >>> maps["conv"].shape, float(maps["conv"].max()) <= 1
        ((2, 8, 8), True)
    """
    from mednotes.explain import grad_cam

    if not isinstance(layers, dict) or not layers:
        raise TypeError(f"layers must be a dict {{name: module}} with at least one layer, got "
                        f"{describe(layers)}")
    images = check_tensor("images", images)
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {tuple(images.shape)}")
    result = {}
    for name, layer in layers.items():
        cam = grad_cam(model, images, target, layer)[:, 0].float()
        peak = cam.flatten(1).max(1).values.clamp(min=1e-12)[:, None, None]
        result[str(name)] = (cam / peak).detach().cpu().numpy()
    return result


def _check_inputs(images, maps) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    images = check_tensor("images", images)
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {tuple(images.shape)}")
    if not isinstance(maps, dict) or not maps:
        raise TypeError(f"maps must be the dict that grad_cam_layers() returns, got "
                        f"{describe(maps)}")
    shape = (images.shape[0], *images.shape[2:])
    for name, m in maps.items():
        if not isinstance(m, np.ndarray) or m.shape != shape:
            raise ValueError(f"maps[{name!r}] must be an array of shape {shape} (one map per "
                             f"image), got {describe(m)}")
    pictures = images.detach().float().cpu()
    pictures = pictures.mean(1) if pictures.shape[1] != 3 else pictures.permute(0, 2, 3, 1)
    return pictures.numpy(), maps


def _cam_figure(pictures: np.ndarray, maps: dict, dpi: int = 80):
    """The image in grey, the selected layer's map over it; returns (fig, update)."""
    fig = Figure(figsize=(4.2, 3.9), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    first = next(iter(maps.values()))
    grey = {} if pictures.ndim == 4 else {"cmap": "gray"}
    base = ax.imshow(pictures[0], **grey)
    heat = ax.imshow(first[0], cmap="inferno", alpha=0.5, vmin=0, vmax=1)
    fig.colorbar(heat, ax=ax, fraction=0.046, label="Grad-CAM (scaled to its maximum)")
    ax.set_xticks([])
    ax.set_yticks([])

    def update(name: str, index: int) -> tuple[int, int]:
        values = maps[name][index]
        base.set_data(pictures[index])
        if pictures.ndim == 3:
            base.set_clim(pictures[index].min(), pictures[index].max())
        heat.set_data(values)
        row, col = np.unravel_index(int(np.argmax(values)), values.shape)
        ax.set_title(f"layer {name}, image {index}: peak at row {row}, col {col}", fontsize=9)
        return int(row), int(col)

    update(next(iter(maps)), 0)
    fig.draw_without_rendering()  # lay the figure out once; frames then only redraw
    fig.set_layout_engine("none")
    return fig, update


def grad_cam_explorer(images: torch.Tensor, maps: dict, *, layer: str | None = None,
                      index: int = 0):
    """Sliders over layers and images, showing each layer's Grad-CAM over its image.

    Args:
        images: the images the maps were computed on, ``(N, C, H, W)``.
        maps: from :func:`~mednotes.widgets.gradcam.grad_cam_layers`.
        layer: the layer shown first (default: the first in ``maps``).
        index: the image shown first.

    Returns:
        An ``ipywidgets`` box; leave it last in a cell to use it.

    Explained in: Trust and interpretability.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
        >>> x = torch.randn(3, 1, 8, 8)
        >>> box = grad_cam_explorer(x, grad_cam_layers(net, x, 0, {"a": net[0], "b": net[1]}))
        >>> [w.description for w in box.children[:2]]
        ['layer', 'image']
    """
    import ipywidgets as widgets

    pictures, maps = _check_inputs(images, maps)
    names = list(maps)
    layer = names[0] if layer is None else layer
    if layer not in names:
        raise ValueError(f"layer must be one of {', '.join(repr(n) for n in names)}; got "
                         f"{layer!r}")
    index = check_int("index", index, 0, len(pictures) - 1)
    layer_slider = widgets.SelectionSlider(options=names, value=layer, description="layer",
                                           continuous_update=False)
    image_slider = widgets.IntSlider(value=index, min=0, max=len(pictures) - 1,
                                     description="image", continuous_update=False)
    readout = widgets.Label()
    picture = widgets.Image(format="png")
    fig, update = _cam_figure(pictures, maps, dpi=72)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        state = (layer_slider.value, image_slider.value)
        picture.value, (row, col) = frames.frame(state, lambda: update(*state))
        values = maps[layer_slider.value][image_slider.value]
        readout.value = (f"peak at row {row}, col {col} · share of the map above half its "
                         f"peak: {(values > 0.5).mean():.0%} of the image")

    for control in (layer_slider, image_slider):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([layer_slider, image_slider, readout, picture])


def grad_cam_animation(images: torch.Tensor, maps: dict, *, index: int = 0,
                       interval_ms: int = 1200, dpi: int = 72):
    """The static twin of :func:`grad_cam_explorer`: one image, layer after layer.

    Args:
        images, maps: as for the explorer.
        index: the image shown.
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
        >>> x = torch.randn(2, 1, 8, 8)
        >>> html = grad_cam_animation(x, grad_cam_layers(net, x, 0, {"a": net[0], "b": net[1]})).to_jshtml()
        >>> html.count("frames[1]"), html.count("frames[2]")
        (1, 0)
    """
    pictures, maps = _check_inputs(images, maps)
    index = check_int("index", index, 0, len(pictures) - 1)
    check_interval_ms(interval_ms)
    names = list(maps)
    fig, update = _cam_figure(pictures, maps, dpi=dpi)

    def frame(k: int):
        update(names[k], index)
        return ()

    frame(0)
    return animation.FuncAnimation(fig, frame, frames=len(names), interval=interval_ms,
                                   blit=False)

"""The sliding-window explorer: cross-correlation one output pixel at a time."""

from __future__ import annotations

import numpy as np
from matplotlib import animation
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from mednotes.viz import as_numpy, imshow
from mednotes.widgets._figure import FigureFrames


def _correlate_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Cross-correlation written as the definition reads, one output pixel at a time."""
    kh, kw = kernel.shape
    out = np.empty((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out


def _annotated(ax, values: np.ndarray, title: str, kind: str):
    """A small matrix drawn as coloured cells with its numbers written in them."""
    shown = imshow(ax, values, kind=kind, title=title)
    texts = [[ax.text(v, u, "", ha="center", va="center", fontsize=8)
              for v in range(values.shape[1])] for u in range(values.shape[0])]

    def set_values(new: np.ndarray):
        shown.set_data(new)
        if kind == "signed":
            bound = float(np.abs(new).max()) or 1.0
            shown.set_clim(-bound, bound)
            dark = np.abs(new) > 0.6 * bound  # deep blue or red cells
        else:
            shown.set_clim(0.0, 1.0)
            dark = new < 0.4
        for u, row in enumerate(texts):
            for v, text in enumerate(row):
                text.set_text(f"{new[u, v]:.2f}")
                text.set_color("white" if dark[u, v] else "black")

    set_values(values)
    return set_values


def _sliding_figure(image: np.ndarray, kernel: np.ndarray, dpi: int = 100):
    """The sliding-window figure: image with window, patch, kernel, products, feature map.

    Returns ``(fig, update, count)``: ``update(position, kernel=None)`` shows one output
    pixel, after swapping in another kernel of the same shape when one is given.
    """
    from matplotlib.patches import Rectangle

    kh, kw = kernel.shape
    full = _correlate_valid(image, kernel)
    out_w = full.shape[1]
    current_kernel = [kernel]
    fig = Figure(figsize=(12, 3.6), dpi=dpi, layout="constrained")
    axes = fig.subplots(1, 5, gridspec_kw={"width_ratios": [1.3, 0.75, 0.75, 0.75, 1.3]})
    ax_img, ax_patch, ax_kernel, ax_prod, ax_map = axes
    imshow(ax_img, image, title="image f and the window", vmin=0, vmax=1)
    window_box = Rectangle((-0.5, -0.5), kw, kh, fill=False, ec="tab:orange", lw=2.5)
    ax_img.add_patch(window_box)
    set_patch = _annotated(ax_patch, image[:kh, :kw], "patch under the window", "anatomy")
    set_kernel = _annotated(ax_kernel, kernel, "kernel g", "signed")
    set_products = _annotated(ax_prod, image[:kh, :kw] * kernel, "products g·f", "signed")
    bound = float(np.abs(full).max()) or 1.0
    partial = np.full_like(full, np.nan)
    norm = TwoSlopeNorm(0.0, -bound, bound)
    feature = imshow(ax_map, partial, kind="signed", title="feature map so far", norm=norm)
    current = Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="tab:orange", lw=2.5)
    ax_map.add_patch(current)

    def update(position: int, kernel: np.ndarray | None = None):
        if kernel is not None and kernel is not current_kernel[0]:
            if kernel.shape != (kh, kw):
                raise ValueError(f"kernel must keep the shape {(kh, kw)}, got {kernel.shape}")
            current_kernel[0] = kernel
            full[:] = _correlate_valid(image, kernel)
            set_kernel(kernel)
            bound = float(np.abs(full).max()) or 1.0
            norm.vmin, norm.vmax = -bound, bound  # one norm object: no new colour scale
            feature.changed()
        kernel = current_kernel[0]
        i, j = divmod(position, out_w)
        patch = image[i:i + kh, j:j + kw]
        window_box.set_xy((j - 0.5, i - 0.5))
        set_patch(patch)
        set_products(patch * kernel)
        partial[:] = np.nan
        partial.flat[: position + 1] = full.flat[: position + 1]
        feature.set_data(partial)
        current.set_xy((j - 0.5, i - 0.5))
        # Only the numbers change under the fixed titles: fewer glyphs to draw per frame.
        ax_prod.set_xlabel(f"sum = {full[i, j]:+.2f}", fontsize=10)
        ax_map.set_xlabel(f"pixel ({i}, {j}) = {full[i, j]:+.2f}", fontsize=10)
        return ()

    update(0)
    return fig, update, full.size


def _small_image(image) -> np.ndarray:
    pixels = as_numpy(image).astype(np.float64)
    if pixels.ndim != 2:
        raise ValueError(f"image must be 2D, got {pixels.ndim} dims")
    if max(pixels.shape) > 16:
        raise ValueError(f"image must be at most 16×16 so that each step stays readable, got "
                         f"{pixels.shape[0]}×{pixels.shape[1]}: pass a crop")
    return pixels


def _as_kernel(kernel) -> np.ndarray:
    from mednotes import kernels

    values = kernels.named(kernel) if isinstance(kernel, str) else kernel
    values = as_numpy(values).astype(np.float64)
    if values.ndim != 2:
        raise ValueError(f"kernel must be 2D, got {values.ndim} dims")
    return values


def correlation_explorer(image, kernel="edge (vertical)"):
    """Slide a kernel over a small image one position at a time, as cross-correlation does.

    Shows the window on the image, the patch under it, the kernel, their element-wise
    products with the sum, and the feature map filling in. Move the *position* slider (or
    press play) and pick another kernel to see how the map changes.

    Args:
        image: a 2D image of at most 16×16 pixels with values in [0, 1] (a crop).
        kernel: a 2D kernel, or the name of one in ``mednotes.kernels.NAMES``.

    Explained in: Convolution and cross-correlation.

    Example:
        >>> import torch
        >>> box = correlation_explorer(torch.rand(8, 8))
        >>> box.children[0].children[1].description, box.children[1].description
        ('position', 'kernel')
    """
    import ipywidgets as widgets

    from mednotes import kernels

    pixels = _small_image(image)
    start = kernel if isinstance(kernel, str) else "custom"
    options = list(kernels.NAMES) + ([] if isinstance(kernel, str) else ["custom"])
    custom = None if isinstance(kernel, str) else _as_kernel(kernel)
    picker = widgets.Dropdown(options=options, value=start, description="kernel")
    position = widgets.IntSlider(value=0, min=0, max=1, description="position",
                                 continuous_update=True)
    play = widgets.Play(value=0, min=0, max=1, interval=300, description="play")
    widgets.jslink((play, "value"), (position, "value"))
    picture = widgets.Image(format="png")
    state: dict = {}

    def rebuild(*_):
        chosen = custom if picker.value == "custom" else _as_kernel(picker.value)
        if chosen.shape[0] > pixels.shape[0] or chosen.shape[1] > pixels.shape[1]:
            raise ValueError(f"kernel {chosen.shape} is larger than the image {pixels.shape}")
        state["kernel"] = chosen
        if state.get("shape") != chosen.shape:  # a new figure only for a new kernel shape
            fig, state["update"], count = _sliding_figure(pixels, chosen, dpi=80)
            fig.draw_without_rendering()  # lay it out once; frames then only redraw
            fig.set_layout_engine("none")
            state["frames"], state["shape"] = FigureFrames(fig), chosen.shape
            position.max = play.max = count - 1
        redraw()

    def redraw(*_):
        where, kernel = min(position.value, position.max), state["kernel"]
        picture.value, _ = state["frames"].frame(
            (picker.value, where), lambda: state["update"](where, kernel))

    picker.observe(rebuild, names="value")
    position.observe(redraw, names="value")
    rebuild()
    return widgets.VBox([widgets.HBox([play, position]), picker, picture])


def correlation_animation(image, kernel="edge (vertical)", interval_ms: int = 350):
    """The static twin of :func:`~mednotes.widgets.correlation_explorer`: every position, in raster order.

    Example:
        >>> import torch
        >>> anim = correlation_animation(torch.rand(5, 5))
        >>> from mednotes.widgets import animation_html
        >>> html = animation_html(anim)    # a 3×3 kernel fits 3×3 times in a 5×5 image
        >>> html.count("frames[8]"), html.count("frames[9]")
        (1, 0)
    """
    pixels, values = _small_image(image), _as_kernel(kernel)
    fig, update, count = _sliding_figure(pixels, values, dpi=64)
    return animation.FuncAnimation(fig, update, frames=count, interval=interval_ms, blit=False)

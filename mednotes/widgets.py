"""Interactive explorers for the notebooks, each with a static twin for the website.

A widget needs a running Python kernel to react; the website has none. So every explorer
comes in two forms: ``*_explorer`` (ipywidgets, for Jupyter and Colab) and ``*_animation``
(precomputed frames in a JavaScript player that moves on a static page).
"""

from __future__ import annotations

import io
import re

import numpy as np
from matplotlib import animation
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from mednotes.data.intensity import WINDOWS, window
from mednotes.viz import as_numpy, imshow


def _window_figure(hu: np.ndarray):
    """Figure with the windowed image and the HU histogram; returns (fig, update)."""
    fig = Figure(figsize=(8, 3.6))
    ax_img, ax_hist = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    shown = imshow(ax_img, window(hu, 40.0, 400.0), title="")
    shown.set_clim(0, 1)
    ax_hist.hist(hu.ravel(), bins=120, range=(-1100, 1600), color="0.4")
    ax_hist.set_yscale("log")
    ax_hist.set_xlabel("Hounsfield units (HU)")
    ax_hist.set_ylabel("pixels (log scale)")
    band = ax_hist.axvspan(-160, 240, color="tab:orange", alpha=0.3, label="window")
    ax_hist.legend(loc="upper right")
    ax_img.set_title("centre 40 HU, width 400 HU", fontsize=10)  # reserve room for titles
    fig.tight_layout()

    def update(center: float, width: float, label: str = ""):
        shown.set_data(window(hu, center, width))
        low, high = center - width / 2, center + width / 2
        band.set_x(low)
        band.set_width(high - low)
        ax_img.set_title(f"{label}centre {center:.0f} HU, width {width:.0f} HU", fontsize=10)
        return shown, band

    return fig, update


def window_explorer(hu):
    """Sliders for the window centre and width of a CT slice, with its HU histogram.

    Args:
        hu: a 2D CT slice in Hounsfield units (tensor or array).

    Returns:
        An ``ipywidgets`` box; display it (or leave it last in a cell) to use it.

    Explained in: Setup and first look.

    Example:
        >>> from mednotes.data import ct_slice
        >>> box = window_explorer(ct_slice()[0])
        >>> [child.description for child in box.children[:2]]
        ['centre (HU)', 'width (HU)']
    """
    import ipywidgets as widgets

    pixels = _as_slice(hu)
    center = widgets.IntSlider(value=40, min=-1000, max=1500, step=10, description="centre (HU)",
                               continuous_update=False)
    width = widgets.IntSlider(value=400, min=10, max=3000, step=10, description="width (HU)",
                              continuous_update=False)
    # The figure travels as PNG bytes in an Image widget: nothing is printed, and the saved
    # widget state still shows the last picture on a page without a kernel.
    picture = widgets.Image(format="png")
    # A bare Figure, not pyplot's: the notebook never shows it on its own, only as the PNG.
    fig, update = _window_figure(pixels)

    def redraw(*_):
        update(center.value, width.value)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        picture.value = buffer.getvalue()

    center.observe(redraw, names="value")
    width.observe(redraw, names="value")
    redraw()
    return widgets.VBox([center, width, picture])


def window_animation(hu, windows: dict[str, tuple[float, float]] | None = None,
                     steps: int = 6, interval_ms: int = 250):
    """The static twin of :func:`window_explorer`: a sweep through window presets.

    Args:
        hu: a 2D CT slice in Hounsfield units.
        windows: ``{name: (centre, width)}``; defaults to ``mednotes.data.WINDOWS``.
        steps: frames interpolated between consecutive presets.
        interval_ms: milliseconds between frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`animation_html` turns it into a
        player for the page.

    Example:
        >>> from mednotes.data import ct_slice
        >>> anim = window_animation(ct_slice()[0], steps=2)
        >>> html = anim.to_jshtml()    # two frames per transition between the 4 presets
        >>> html.count("frames[7]"), html.count("frames[8]")
        (1, 0)
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    windows = dict(windows or WINDOWS)
    if not windows:
        raise ValueError("windows must name at least one (centre, width) preset")
    pixels = _as_slice(hu)
    names = list(windows)
    frames = []
    for i, name in enumerate(names):
        (c0, w0), (c1, w1) = windows[name], windows[names[(i + 1) % len(names)]]
        for t in np.linspace(0.0, 1.0, steps, endpoint=False):
            label = f"{name}: " if t == 0 else ""
            frames.append((c0 + t * (c1 - c0), w0 + t * (w1 - w0), label))
    fig, update = _window_figure(pixels)
    return animation.FuncAnimation(fig, lambda k: update(*frames[k]), frames=len(frames),
                                   interval=interval_ms, blit=False)


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
    """The sliding-window figure: image with window, patch, kernel, products, feature map."""
    from matplotlib.patches import Rectangle

    kh, kw = kernel.shape
    full = _correlate_valid(image, kernel)
    out_w = full.shape[1]
    fig = Figure(figsize=(12, 3.6), dpi=dpi, layout="constrained")
    axes = fig.subplots(1, 5, gridspec_kw={"width_ratios": [1.3, 0.75, 0.75, 0.75, 1.3]})
    ax_img, ax_patch, ax_kernel, ax_prod, ax_map = axes
    imshow(ax_img, image, title="image f and the window", vmin=0, vmax=1)
    window_box = Rectangle((-0.5, -0.5), kw, kh, fill=False, ec="tab:orange", lw=2.5)
    ax_img.add_patch(window_box)
    set_patch = _annotated(ax_patch, image[:kh, :kw], "patch under the window", "anatomy")
    _annotated(ax_kernel, kernel, "kernel g", "signed")
    set_products = _annotated(ax_prod, image[:kh, :kw] * kernel, "products g·f", "signed")
    bound = float(np.abs(full).max()) or 1.0
    partial = np.full_like(full, np.nan)
    feature = imshow(ax_map, partial, kind="signed", title="feature map so far",
                     norm=TwoSlopeNorm(0.0, -bound, bound))
    current = Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="tab:orange", lw=2.5)
    ax_map.add_patch(current)

    def update(position: int):
        i, j = divmod(position, out_w)
        patch = image[i:i + kh, j:j + kw]
        window_box.set_xy((j - 0.5, i - 0.5))
        set_patch(patch)
        set_products(patch * kernel)
        partial[:] = np.nan
        partial.flat[: position + 1] = full.flat[: position + 1]
        feature.set_data(partial)
        current.set_xy((j - 0.5, i - 0.5))
        ax_prod.set_title(f"products g·f, sum = {full[i, j]:+.2f}", fontsize=10)
        ax_map.set_title(f"feature map, pixel ({i}, {j})", fontsize=10)
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
        state["fig"], state["update"], count = _sliding_figure(pixels, chosen, dpi=80)
        position.max = play.max = count - 1
        redraw()

    def redraw(*_):
        state["update"](min(position.value, position.max))
        buffer = io.BytesIO()
        state["fig"].savefig(buffer, format="png")
        picture.value = buffer.getvalue()

    picker.observe(rebuild, names="value")
    position.observe(redraw, names="value")
    rebuild()
    return widgets.VBox([widgets.HBox([play, position]), picker, picture])


def correlation_animation(image, kernel="edge (vertical)", interval_ms: int = 350):
    """The static twin of :func:`correlation_explorer`: every position, in raster order.

    Example:
        >>> import torch
        >>> anim = correlation_animation(torch.rand(5, 5))
        >>> html = animation_html(anim)    # a 3×3 kernel fits 3×3 times in a 5×5 image
        >>> html.count("frames[8]"), html.count("frames[9]")
        (1, 0)
    """
    pixels, values = _small_image(image), _as_kernel(kernel)
    fig, update, count = _sliding_figure(pixels, values, dpi=64)
    return animation.FuncAnimation(fig, update, frames=count, interval=interval_ms, blit=False)


# matplotlib's player draws its buttons with Font Awesome from a CDN; an offline page would show
# empty buttons. These glyphs need no font download.
_PLAYER_GLYPHS = {
    "fa fa-minus": "−", "fa fa-fast-backward": "|◀◀", "fa fa-step-backward": "|◀",
    "fa fa-play fa-flip-horizontal": "◀", "fa fa-pause": "❚❚", "fa fa-play": "▶",
    "fa fa-step-forward": "▶|", "fa fa-fast-forward": "▶▶|", "fa fa-plus": "+",
}
_CDN_LINK = re.compile(r"<link[^>]+href=[\"']https?://[^>]*>\s*", re.IGNORECASE)
_ICON = re.compile(r'<i class="(fa [^"]+)"></i>')


def animation_html(anim: animation.Animation, *, mode: str = "loop") -> str:
    """HTML for the static twin of an explorer: a frame player that works offline.

    Like ``anim.to_jshtml()``, but the page loads nothing from the network: the player's
    icon font (fetched from a CDN by matplotlib) is replaced by plain Unicode glyphs.

    Args:
        anim: a matplotlib animation, e.g. from :func:`window_animation`.
        mode: ``"loop"``, ``"once"`` or ``"reflect"``, what the player does at the end.

    Example:
        >>> from mednotes.data import ct_slice
        >>> html = animation_html(window_animation(ct_slice()[0], steps=1))
        >>> "https://" in html, "▶" in html
        (False, True)
    """
    if mode not in ("loop", "once", "reflect"):
        raise ValueError(f"mode must be 'loop', 'once' or 'reflect', got {mode!r}")
    html = anim.to_jshtml(default_mode=mode)
    html = _CDN_LINK.sub("", html)
    return _ICON.sub(lambda m: f'<span aria-hidden="true">{_PLAYER_GLYPHS.get(m.group(1), "•")}</span>', html)


def _as_slice(hu) -> np.ndarray:
    pixels = as_numpy(hu)
    if pixels.ndim != 2:
        raise ValueError(f"hu must be a 2D slice, got an array with {pixels.ndim} dims")
    return pixels.astype(np.float64)

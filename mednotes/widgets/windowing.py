"""The CT window explorer: centre and width sliders over a slice and its HU histogram."""

from __future__ import annotations

import numpy as np
from matplotlib import animation
from matplotlib.figure import Figure

from mednotes.data.intensity import WINDOWS, window
from mednotes.viz import as_numpy, imshow
from mednotes.widgets._figure import FigureFrames


def _window_figure(hu: np.ndarray, dpi: int = 100):
    """Figure with the windowed image and the HU histogram; returns (fig, update)."""
    fig = Figure(figsize=(8, 3.6), dpi=dpi)
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
    fig.draw_without_rendering()  # drawn once: from now on, what an update changes is known

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
    fig, update = _window_figure(pixels, dpi=80)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        state = (center.value, width.value)
        picture.value, _ = frames.frame(state, lambda: update(*state))

    center.observe(redraw, names="value")
    width.observe(redraw, names="value")
    redraw()
    return widgets.VBox([center, width, picture])


def window_animation(hu, windows: dict[str, tuple[float, float]] | None = None,
                     steps: int = 6, interval_ms: int = 250):
    """The static twin of :func:`~mednotes.widgets.window_explorer`: a sweep through window presets.

    Args:
        hu: a 2D CT slice in Hounsfield units.
        windows: ``{name: (centre, width)}``; defaults to ``mednotes.data.WINDOWS``.
        steps: frames interpolated between consecutive presets.
        interval_ms: milliseconds between frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html` turns it into a
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


def _as_slice(hu) -> np.ndarray:
    pixels = as_numpy(hu)
    if pixels.ndim != 2:
        raise ValueError(f"hu must be a 2D slice, got an array with {pixels.ndim} dims")
    return pixels.astype(np.float64)

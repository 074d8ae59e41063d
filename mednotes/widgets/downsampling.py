"""The downsampling explorer: factor, pre-filter and shift, and what each does to aliasing."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import animation
from matplotlib.figure import Figure

from mednotes._checks import check_int
from mednotes.pooling import (
    avg_pool2d,
    blur_pool2d,
    frequency_axis,
    spectrum,
    subpixel_roll,
)
from mednotes.viz import as_numpy, imshow
from mednotes.widgets._figure import FigureFrames, _one_torch_thread

#: The pre-filters the explorer offers, in the order of its menu.
PREFILTERS = ("none", "average", "blur")
#: The downsampling factors the explorer offers.
FACTORS = (2, 3, 4)


def blur_size(factor: int) -> int:
    """Taps of the binomial filter used before subsampling by ``factor``: ``2 * factor - 1``.

    Factor 2 gets Zhang's 3-tap filter; larger factors get wider ones, so the blur keeps up
    with the lower Nyquist limit.

    Example:
        >>> [blur_size(f) for f in (2, 3, 4)]
        [3, 5, 7]
    """
    return 2 * factor - 1


def downsample(x: torch.Tensor, factor: int, prefilter: str = "none") -> torch.Tensor:
    """Subsample an ``(N, C, H, W)`` batch by ``factor``, after an optional pre-filter.

    ``"none"`` keeps every ``factor``-th pixel; ``"average"`` is average pooling with a
    ``factor × factor`` window; ``"blur"`` is :func:`~mednotes.pooling.blur_pool2d` with a
    :func:`blur_size` binomial filter and circular padding, so that all three commute
    exactly with circular shifts by multiples of ``factor``.

    Example:
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> downsample(x, 2).flatten().tolist(), downsample(x, 2, "average").flatten().tolist()
        ([0.0, 2.0, 8.0, 10.0], [2.5, 4.5, 10.5, 12.5])
    """
    _check_factor(factor)
    if prefilter not in PREFILTERS:
        raise ValueError(f"prefilter must be one of {', '.join(PREFILTERS)}, got {prefilter!r}")
    if prefilter == "none":
        return x[..., ::factor, ::factor]
    if prefilter == "average":
        return avg_pool2d(x, factor)
    return blur_pool2d(x, blur_size(factor), factor, padding_mode="circular")


def shift_difference(image: torch.Tensor, factor: int, prefilter: str, shift: int):
    """What the explorer shows for one setting: output, its spectrum, difference, error.

    The input is rolled by ``shift`` pixels along both axes; the difference map is
    ``out(shifted) − out(unshifted) rolled by shift / factor`` (a fractional roll is
    :func:`~mednotes.pooling.subpixel_roll`, what an ideal anti-aliased downsampler would
    give). The error is the norm of that difference relative to the norm of the reference,
    the same number :func:`~mednotes.pooling.shift_equivariance_error` reports in circular
    mode.

    Returns:
        ``(out, spec, diff, error)``: 2D tensors and a float.
    """
    x = image[None, None].double()
    reference = downsample(x, factor, prefilter)
    moved = downsample(torch.roll(x, (shift, shift), (2, 3)), factor, prefilter)
    expected = subpixel_roll(reference, (shift / factor, shift / factor), (2, 3))
    diff = (moved - expected)[0, 0]
    error = float(diff.norm() / expected.norm()) if float(diff.norm()) > 0 else 0.0
    return moved[0, 0], spectrum(moved[0, 0]), diff, error


def _results(image: torch.Tensor, factor: int, name: str, shift: int, memo: dict | None):
    """:func:`shift_difference` as numpy arrays (and the error), kept in ``memo``."""
    key = (factor, name, shift)
    if memo is None or key not in memo:
        out, spec, diff, error = shift_difference(image, factor, name, shift)
        found = (as_numpy(out), as_numpy(spec), as_numpy(diff), error)
        if memo is None:
            return found
        memo[key] = found
    return memo[key]


def _downsampling_figure(image: torch.Tensor, prefilters, dpi: int = 72, size: float = 2.5,
                         memo: dict | None = None):
    """One row per pre-filter: output, spectrum, difference map. Returns (fig, update).

    ``memo``: results of :func:`shift_difference` already computed, by (factor, pre-filter,
    shift); the update adds what it computes.
    """
    rows = len(prefilters)
    fig = Figure(figsize=(3 * size + 0.6, rows * size + 0.5), dpi=dpi, layout="constrained")
    axes = np.asarray(fig.subplots(rows, 3, squeeze=False))
    panels = []
    for row, name in enumerate(prefilters):
        out, spec, diff, _ = shift_difference(image, 2, name, 0)
        shown = imshow(axes[row, 0], out, vmin=0, vmax=1)
        spec_img = imshow(axes[row, 1], spec, kind="feature")
        diff_img = axes[row, 2].imshow(as_numpy(diff), cmap="RdBu_r", vmin=-0.3, vmax=0.3,
                                       interpolation="nearest")
        axes[row, 2].set_xticks([]); axes[row, 2].set_yticks([])
        panels.append((shown, spec_img, diff_img))
    fig.colorbar(diff_img, ax=axes[:, 2], shrink=0.8, label="difference")

    def update(factor: int, shift: int):
        errors = []
        for row, name in enumerate(prefilters):
            out, spec, diff, error = _results(image, factor, name, shift, memo)
            shown, spec_img, diff_img = panels[row]
            n = out.shape[-1]
            half = 0.5 / factor  # the spectrum's axes in cycles per *input* pixel
            edges = (float(frequency_axis(n)[0]) / factor, -float(frequency_axis(n)[0]) / factor)
            extent = (-0.5, n - 0.5, n - 0.5, -0.5)
            for artist, data, place in ((shown, out, extent),
                                        (spec_img, spec, (*edges, edges[1], edges[0])),
                                        (diff_img, diff, extent)):
                artist.set_data(data)
                if tuple(artist.get_extent()) != place:  # moves the axes' limits: only if new
                    artist.set_extent(place)
            spec_img.set_clim(0, float(spec.max()))
            for col, title in enumerate((f"pre-filter: {name}",
                                         f"spectrum (|f| < {half:.3g} cyc/px)",
                                         f"difference, error {error:.3f}")):
                if axes[row, col].get_title() != title:
                    axes[row, col].set_title(title, fontsize=9)
            errors.append(error)
        # one title for what the controls set (one text to draw anew, not one per row)
        fig.suptitle(f"÷{factor}, input shifted {shift} px", fontsize=10)
        return errors

    update(2, 0)
    fig.draw_without_rendering()  # lay the panels out once; frames then only redraw
    fig.set_layout_engine("none")
    return fig, update


def _as_image(image, factors=FACTORS) -> torch.Tensor:
    pixels = torch.as_tensor(as_numpy(image), dtype=torch.float64)
    if pixels.ndim != 2:
        raise ValueError(f"image must be a 2D grey image, got {pixels.ndim} dims")
    step = int(np.lcm.reduce(list(factors)))
    side = min(pixels.shape) // step * step
    if side < 2 * step:
        raise ValueError(f"image must be at least {2 * step}×{2 * step} pixels, got "
                         f"{pixels.shape[0]}×{pixels.shape[1]}")
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    # A square crop whose side every factor divides, so each circular shift is exact.
    return pixels[top:top + side, left:left + side]


def _check_factor(factor) -> None:
    check_int("factor", factor, minimum=1)


def _check_prefilters(prefilters) -> tuple[str, ...]:
    chosen = tuple(prefilters)
    bad = [p for p in chosen if p not in PREFILTERS]
    if not chosen or bad:
        raise ValueError(f"prefilters must be drawn from {', '.join(PREFILTERS)}, got {chosen!r}")
    return chosen


def downsampling_explorer(image, prefilters=PREFILTERS):
    """Sliders for the downsampling factor and the input shift, one row per pre-filter.

    Each row shows the downsampled image, its spectrum and the difference between the
    output for the shifted input and the unshifted output moved by ``shift / factor``
    (zero for a shift-equivariant downsampler), with the relative error in the title.

    Args:
        image: a 2D grey image with values in [0, 1], at least 24×24; it is centre-cropped
            to a square whose side 2, 3 and 4 divide.
        prefilters: the rows to show, drawn from ``"none"``, ``"average"``, ``"blur"``.

    Returns:
        An ``ipywidgets`` box; leave it last in a cell to use it.

    Explained in: Pooling, downsampling and aliasing.

    Example:
        >>> box = downsampling_explorer(torch.rand(48, 48), prefilters=("none", "blur"))
        >>> [child.description for child in box.children[:2]]
        ['factor', 'shift']
    """
    import ipywidgets as widgets

    pixels, rows = _as_image(image), _check_prefilters(prefilters)
    factor = widgets.Dropdown(options=list(FACTORS), value=2, description="factor")
    shift = widgets.IntSlider(value=0, min=0, max=7, description="shift",
                              continuous_update=False)
    picture = widgets.Image(format="png")
    # Every factor and shift computed now (a tenth of a second), so that moving a control
    # only draws.
    memo: dict = {}
    with _one_torch_thread():  # small tensor operations: faster on one thread
        for f in FACTORS:
            for s in range(shift.max + 1):
                for name in rows:
                    _results(pixels, f, name, s, memo)
    fig, update = _downsampling_figure(pixels, rows, dpi=72, memo=memo)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        state = (factor.value, shift.value)
        picture.value, _ = frames.frame(state, lambda: update(*state))

    factor.observe(redraw, names="value")
    shift.observe(redraw, names="value")
    redraw()
    return widgets.VBox([factor, shift, picture])


def downsampling_animation(image, prefilters=("none", "blur"), factor: int = 2,
                           shifts=range(8), interval_ms: int = 500):
    """The static twin of :func:`downsampling_explorer`: the input shift swept pixel by pixel.

    Args:
        image: as for :func:`downsampling_explorer`.
        prefilters: rows to show.
        factor: downsampling factor, 2, 3 or 4.
        shifts: the shifts to sweep, one frame each (at most 16).
        interval_ms: milliseconds between frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Example:
        >>> anim = downsampling_animation(torch.rand(24, 24), shifts=range(3))
        >>> html = anim.to_jshtml()
        >>> html.count("frames[2]"), html.count("frames[3]")
        (1, 0)
    """
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS}, got {factor!r}")
    steps = [int(s) for s in shifts]
    if not 1 <= len(steps) <= 16:
        raise ValueError(f"shifts must hold 1 to 16 values (one frame each), got {len(steps)}")
    pixels, rows = _as_image(image), _check_prefilters(prefilters)
    fig, update = _downsampling_figure(pixels, rows, dpi=64, size=2.2)
    return animation.FuncAnimation(fig, lambda k: update(factor, steps[k]), frames=len(steps),
                                   interval=interval_ms, blit=False)

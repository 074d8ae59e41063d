"""What every explorer does after redrawing: hand its figure to the page as PNG bytes."""

from __future__ import annotations

import io
import numbers

from matplotlib.figure import Figure

from mednotes._checks import describe


def figure_png(fig: Figure, **savefig_kwargs) -> bytes:
    """``fig`` rendered as PNG bytes, the value of an explorer's ``ipywidgets.Image``.

    The figure travels as bytes in the widget, so nothing is printed, and the saved widget
    state still shows the last picture on a page without a kernel.

    Example:
        >>> fig = Figure(figsize=(1, 1))
        >>> figure_png(fig, dpi=10)[:4]
        b'\\x89PNG'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig_kwargs)
    return buffer.getvalue()


def check_interval_ms(interval_ms: object) -> int:
    """``interval_ms``, the time between a static twin's frames, as a positive int.

    Example:
        >>> check_interval_ms(800)
        800
    """
    if isinstance(interval_ms, bool) or not isinstance(interval_ms, numbers.Integral) \
            or interval_ms < 1:
        raise ValueError(f"interval_ms must be a positive int, got {describe(interval_ms)}")
    return int(interval_ms)

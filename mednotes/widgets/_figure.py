"""What every explorer does after redrawing: hand its figure to the page as PNG bytes."""

from __future__ import annotations

import io

from matplotlib.figure import Figure


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

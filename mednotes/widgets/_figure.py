"""How an explorer turns its figure into the picture of its ``ipywidgets.Image``, fast.

An explorer changes a few artists of one figure when a control moves: an image's data, a
title, a line, a bar. Drawing the whole figure again costs a tenth of a second or more, most
of it text that did not change (tick labels, legends, axis labels). :class:`FigureFrames`
draws only what changed, the way animations *blit*:

1. it lists the figure's artists in matplotlib's own drawing order, each Axes opened into
   its children (background patch, images, patches, axis, lines, spines, texts, legend);
2. it finds what changed since the last picture: an artist matplotlib marks *stale* (it or
   any part of it was set), a text whose string, place or style differs, an axis whose
   limits or ticks differ, and anything drawn in data coordinates of an Axes whose limits
   moved;
3. the artists that did not change are drawn once into cached layers: everything below the
   first changed artist is the background; each later run of unchanged artists (a legend
   over moving lines, tick labels over a moving histogram) is a transparent overlay;
4. a picture is the background, then, in drawing order, the changed artists drawn over it
   and the overlays blended in at their place: the same picture as a full draw;
5. the pixels are encoded as PNG at a low compression level (lossless, a few ms).

When an artist of a cached layer changes, or the figure's size, layout or Axes positions do,
the layers are drawn again (a full draw's cost, once); artists that changed once are then
redrawn every time. Texts and axes, the costly ones, are redrawn from *sprites* kept by what
decides their look (a title set to the same string, ticks back at the same limits cost a
blend), and text is drawn from kept glyph bitmaps (``_text_render``).
:meth:`FigureFrames.frame` keeps the last pictures by a key (the control values), so that
going back to a state already shown costs nothing, and runs the update with torch on one
thread.

:func:`full_redraws` switches all this off: every picture is then a full draw
(:func:`figure_png`), as before. Tests compare the two; ``benchmarks/widgets.py`` times both.
"""

from __future__ import annotations

import contextlib
import io
import numbers
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.text import Text

from mednotes._checks import describe
from mednotes.widgets._layers import (
    _NOTHING,
    _draws_nothing,
    _Layers,
    _Overlay,
    _settle,
    _signature,
    _units,
)
from mednotes.widgets._text_render import _renderer

#: zlib level of the explorers' PNG pictures: 1 is several times faster than matplotlib's 6,
#: and the pictures stay lossless (a little larger).
PNG_LEVEL = 1

_FULL_REDRAWS = False
_SPRITES = 256  # texts and axes kept drawn, per figure


def figure_png(fig: Figure, **savefig_kwargs) -> bytes:
    """``fig`` rendered as PNG bytes by a full draw: the value of an explorer's ``ipywidgets.Image``.

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


@contextlib.contextmanager
def full_redraws():
    """Within the block, every :class:`FigureFrames` picture is a full draw, uncached.

    The way explorers drew before :class:`FigureFrames`: the reference of the tests and the
    baseline of ``benchmarks/widgets.py``.

    Example:
        >>> frames = FigureFrames(Figure(figsize=(1, 1), dpi=20))
        >>> with full_redraws():
        ...     frames.png()[:4]
        b'\\x89PNG'
    """
    global _FULL_REDRAWS
    previous, _FULL_REDRAWS = _FULL_REDRAWS, True
    try:
        yield
    finally:
        _FULL_REDRAWS = previous


def rgba_png(pixels: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """An ``(H, W, 4)`` uint8 picture as PNG bytes; RGB when it is opaque (smaller, faster).

    Written directly (rows unfiltered, zlib at ``level``): about twice as fast as PIL's
    encoder with its per-row filters, for pictures that are mostly flat colour.

    Example:
        >>> from PIL import Image
        >>> png = rgba_png(np.full((2, 3, 4), 255, np.uint8))
        >>> png[:4], Image.open(io.BytesIO(png)).mode, Image.open(io.BytesIO(png)).size
        (b'\\x89PNG', 'RGB', (3, 2))
    """
    height, width = pixels.shape[:2]
    opaque = bool(pixels[..., 3].min() == 255)
    channels = 3 if opaque else 4
    rows = np.empty((height, 1 + width * channels), np.uint8)  # each row: filter 0, pixels
    rows[:, 0] = 0
    rows[:, 1:].reshape(height, width, channels)[...] = pixels[..., :channels]
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if opaque else 6, 0, 0, 0)
    return b"".join((b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header),
                     _chunk(b"IDAT", zlib.compress(rows, level)), _chunk(b"IEND", b"")))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


@contextlib.contextmanager
def _one_torch_thread():
    """Torch on one thread: an explorer's small tensors gain nothing from more, and a thread
    pool that waits for busy cores can make a 5 ms update take half a second."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class FigureFrames:
    """Pictures of a figure that an explorer changes in place, redrawing only what changed.

    Args:
        fig: the explorer's figure (a bare ``matplotlib.figure.Figure``); from now on it
            draws with Agg. Its layout must be fixed (no layout engine): a figure with
            one is drawn in full every time, as the engine would move things.
        cache_size: how many pictures :meth:`frame` keeps (the least recently shown go).

    Example:
        >>> fig = Figure(figsize=(2, 1), dpi=50)
        >>> ax = fig.add_subplot()
        >>> (line,) = ax.plot([0, 1], [0, 1])
        >>> frames = FigureFrames(fig)
        >>> first = frames.png()           # draws everything, keeps the layers
        >>> line.set_ydata([1, 0])
        >>> second = frames.png()          # draws the line over the cached layers
        >>> second != first, second[:4]
        (True, b'\\x89PNG')
    """

    def __init__(self, fig: Figure, *, cache_size: int = 64):
        if not isinstance(fig, Figure):
            raise TypeError(f"fig must be a matplotlib Figure, got {describe(fig)}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, numbers.Integral) \
                or cache_size < 0:
            raise ValueError(f"cache_size must be an int >= 0, got {describe(cache_size)}")
        self.fig = fig
        if not isinstance(fig.canvas, FigureCanvasAgg):
            FigureCanvasAgg(fig)
        # A full draw by anyone else (savefig, draw_without_rendering) clears the marks of
        # what changed: the layers can no longer be trusted.
        fig.canvas.mpl_connect("draw_event", self._forget)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict = OrderedDict()
        self._layers: _Layers | None = None
        self._sprites: OrderedDict = OrderedDict()  # (id, signature) -> _Overlay
        self._scratch = None
        # How texts and axes look before the first update: what differs then is what the
        # updates change, and goes to the first layers' changing artists.
        width, height = fig.canvas.get_width_height(physical=True)
        self._renderer = _renderer(width, height, fig.dpi)
        units = _units(fig, self._renderer)
        self._before = None if units is None else {
            id(u): _signature(u) for u in units if isinstance(u, (Axis, Text))}

    def png(self) -> bytes:
        """The figure as it is now, as PNG bytes."""
        engine = self.fig.get_layout_engine()
        if _FULL_REDRAWS or not isinstance(engine, (type(None), PlaceHolderLayoutEngine)):
            return figure_png(self.fig)
        return rgba_png(self.pixels(copy=False))

    def frame(self, key: Hashable, update: Callable[[], object]) -> tuple[bytes, object]:
        """The picture of the state ``key``: ``(png, update())``, from the cache when shown lately.

        ``update`` must set every artist that depends on the state (an explorer's
        ``update(controls)``); on a cache hit it is not called, and its result comes from
        the cache. It runs with torch on one thread (see ``_one_torch_thread``).
        """
        if not _FULL_REDRAWS and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        with _one_torch_thread():
            result = update()
        entry = (self.png(), result)
        if not _FULL_REDRAWS and self.cache_size:
            self._cache[key] = entry
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return entry

    def pixels(self, copy: bool = True) -> np.ndarray:
        """The figure as it is now, ``(H, W, 4)`` uint8 RGBA: the layers, the changes over them.

        With ``copy=False``, a view of the renderer's buffer, valid until the next picture.
        """
        canvas = self.fig.canvas
        width, height = canvas.get_width_height(physical=True)
        renderer = self._renderer
        if renderer is None or (renderer.width, renderer.height, renderer.dpi) != (
                width, height, self.fig.dpi):
            renderer = self._renderer = _renderer(width, height, self.fig.dpi)
            self._sprites.clear()  # drawn at another size
        units = _units(self.fig, renderer)
        if units is None:  # something this class does not handle: draw it all
            canvas.draw()
            return np.array(canvas.get_renderer().buffer_rgba(), copy=copy)
        layers, plan = self._layers, None
        if layers is not None and layers.renderer is renderer and layers.fits(self.fig):
            plan = layers.plan(units)
        if plan is None:
            # Draw the layers again, without what changed: it will likely change again.
            dynamic = set() if layers is None else layers.dynamic_in(units)
            layers = _Layers(self.fig, renderer, units, dynamic, self._before)
            self._before = None
            plan = layers.plan(units)
            if plan is None:  # cannot happen: the layers were just made for these units
                raise RuntimeError("FigureFrames: fresh layers do not fit their own figure")
        renderer.restore_region(layers.background)
        gc = renderer.new_gc()
        for step in plan:
            if isinstance(step, (Axis, Text)):  # costly to draw, often as before: sprites
                step = self._sprite(step, renderer)
            if isinstance(step, _Overlay):
                if not step.empty:
                    renderer.draw_image(gc, step.x, step.y, step.pixels)
            else:
                step.draw(renderer)
                _settle(step)
        gc.restore()
        self._layers = layers
        return np.array(renderer.buffer_rgba(), copy=copy)

    def _sprite(self, unit, renderer) -> _Overlay:
        """A text or an axis drawn alone on a transparent canvas, kept by its signature.

        Texts and axes cost the most to draw (each glyph is rendered anew), and they often
        come back as they were: the same title, the same ticks. The last few are kept.
        """
        if isinstance(unit, Axis) and _draws_nothing(unit):  # an image's axis: no ticks
            _settle(unit)
            return _NOTHING
        key = (id(unit), _signature(unit))
        sprite = self._sprites.get(key)
        if sprite is None:
            scratch = self._scratch
            if scratch is None or (scratch.width, scratch.height, scratch.dpi) != (
                    renderer.width, renderer.height, renderer.dpi):
                scratch = self._scratch = _renderer(renderer.width, renderer.height,
                                                    renderer.dpi)
            scratch.clear()
            unit.draw(scratch)
            window = None
            if isinstance(unit, Text) and unit.get_bbox_patch() is None:
                window = unit.get_window_extent(scratch).padded(3)  # where its pixels are
            sprite = self._sprites[key] = _Overlay(np.asarray(scratch.buffer_rgba()),
                                                   scratch.height, window)
            while len(self._sprites) > _SPRITES:
                self._sprites.popitem(last=False)
        else:
            self._sprites.move_to_end(key)
        _settle(unit)
        return sprite

    def _forget(self, _event=None) -> None:
        self._layers = None


def nice_limit(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) at or above ``value``.

    An explorer whose axis limit follows the data sets it to ``nice_limit(...)``: the limit,
    and so the ticks, change only when the data's scale does, and the axis need not be
    drawn again for every small change.

    Example:
        >>> [nice_limit(v) for v in (0.7, 1.0, 1.3, 4.1, 830.0)]
        [0.8, 1.0, 1.5, 5.0, 1000.0]
    """
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"value must be positive and finite, got {describe(value)}")
    power = 10.0 ** np.floor(np.log10(value))
    for step in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if step * power >= value * (1 - 1e-12):
            return float(round(step * power, 12))
    return float(10 * power)


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

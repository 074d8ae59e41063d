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
blend), and text is drawn from kept glyph bitmaps (:class:`_TextCachingRenderer`).
:meth:`FigureFrames.frame` keeps the last pictures by a key (the control values), so that
going back to a state already shown costs nothing, and runs the update with torch on one
thread.

:func:`full_redraws` switches all this off: every picture is then a full draw
(:func:`figure_png`), as before. Tests compare the two; ``benchmarks/widgets.py`` times both.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import ClassVar

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import (
    FigureCanvasAgg,
    RendererAgg,
    get_hinting_flag,
)
from matplotlib.figure import Figure
from matplotlib.ft2font import RenderMode
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.text import Text

from mednotes._checks import describe

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


class _TextCachingRenderer(RendererAgg):
    """Agg drawing text from kept layouts and glyph bitmaps: the same pixels, a third the time.

    Matplotlib lays out each string and renders each of its glyphs anew at every draw, in a
    Python loop. A glyph's bitmap depends only on its font, size, transform and position
    within a pixel (FreeType works in 1/64 px), so it is kept and put down again wherever
    the same glyph falls at the same fraction of a pixel. Mirrors ``RendererAgg.draw_text``
    of matplotlib 3.11; :func:`_renderer` checks it against Agg before using it.
    """

    _layouts: ClassVar[OrderedDict] = OrderedDict()  # shared by every such renderer
    _glyphs: ClassVar[dict] = {}

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath:
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        font = self._prepare_font(prop)
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        flags = get_hinting_flag()
        key = (font, size, self.dpi, s, flags, repr(features), repr(language))
        items = self._layouts.get(key)
        if items is None:
            items = [(item.ft_object, item.glyph_index, item.x, item.y) for item in
                     font._layout(s, flags=flags, features=features, language=language)]
            self._layouts[key] = items
            if len(self._layouts) > 4096:
                self._layouts.popitem(last=False)
        self._draw_glyphs(gc, x, y, angle, size, items, flags)

    def _draw_glyphs(self, gc, x, y, angle, size, items, flags):
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        matrix = (0x10000 * np.array([[cos, -sin], [sin, cos]])).round().astype(int)
        antialiased = gc.get_antialiased()
        mode = RenderMode.NORMAL if antialiased else RenderMode.MONO
        glyphs, dpi, height = self._glyphs, self.dpi, self.height
        if len(glyphs) > 20_000:  # a few MB at most
            glyphs.clear()
        placed = []  # (bitmap, left column, bottom row), rows counted downwards
        for font, index, dx, dy in items:  # dy is upwards; FreeType's y is upwards too
            px = round(0x40 * (x + dx * cos - dy * sin))
            py = round(0x40 * (height - y + dx * sin + dy * cos))
            key = (font, size, dpi, index, angle, px & 63, py & 63, flags, antialiased)
            glyph = glyphs.get(key)
            if glyph is None:
                font.set_size(size, dpi)
                font._set_transform(matrix, [px, py])
                bitmap = font._render_glyph(index, flags, mode)
                buffer = np.array(bitmap.buffer) * (1 if antialiased else 0xFF)
                glyph = glyphs[key] = (buffer, bitmap.left - (px >> 6),
                                       bitmap.top - (py >> 6) - buffer.shape[0])
            buffer, left, top = glyph
            if buffer.size:
                placed.append((buffer, left + (px >> 6), int(height) - (top + (py >> 6))))
        self._draw_runs(placed, gc)

    def _draw_runs(self, placed: list, gc) -> None:
        """Put glyph bitmaps down, each run of glyphs whose boxes do not overlap as one image.

        ``draw_text_image`` costs far more per call than per pixel, and a string's glyphs
        rarely touch; where two boxes overlap, the second starts a new run, so that every
        pixel is blended exactly as often as one glyph at a time would blend it.
        """
        draw = self._renderer.draw_text_image
        run: list = []
        for glyph in placed + [None]:
            if glyph is not None and not any(_overlap(glyph, other) for other in run):
                run.append(glyph)
                continue
            if len(run) == 1:
                buffer, left, bottom = run[0]
                draw(buffer, left, bottom, 0, gc)  # its y marks the bitmap's bottom side
            elif run:
                x0 = min(left for _, left, _ in run)
                x1 = max(left + b.shape[1] for b, left, _ in run)
                y0 = min(bottom - b.shape[0] for b, _, bottom in run)
                y1 = max(bottom for _, _, bottom in run)
                image = np.zeros((y1 - y0, x1 - x0), np.uint8)
                for buffer, left, bottom in run:
                    image[bottom - buffer.shape[0] - y0:bottom - y0,
                          left - x0:left - x0 + buffer.shape[1]] = buffer
                draw(image, x0, y1, 0, gc)
            run = [] if glyph is None else [glyph]


def _overlap(a: tuple, b: tuple) -> bool:
    """Whether two placed glyph bitmaps ``(bitmap, left, bottom)`` share a pixel."""
    (pa, la, ba), (pb, lb, bb) = a, b
    return (la < lb + pb.shape[1] and lb < la + pa.shape[1]
            and ba - pa.shape[0] < bb and bb - pb.shape[0] < ba)


_TEXT_CACHE_WORKS: bool | None = None


def _renderer(width: int, height: int, dpi: float) -> RendererAgg:
    """A renderer for FigureFrames: the text-caching one when it draws exactly what Agg
    draws (checked once, on a line of text in two angles), else Agg's own."""
    global _TEXT_CACHE_WORKS
    if _TEXT_CACHE_WORKS is None:
        _TEXT_CACHE_WORKS = _text_cache_agrees()
    kind = _TextCachingRenderer if _TEXT_CACHE_WORKS else RendererAgg
    return kind(width, height, dpi)


def _text_cache_agrees() -> bool:
    from matplotlib.font_manager import FontProperties

    try:
        pictures = []
        for kind in (RendererAgg, _TextCachingRenderer, _TextCachingRenderer):
            renderer = kind(120, 120, 72)
            for angle, (x, y) in ((0, (3.3, 20.6)), (90, (60.2, 110.7)), (30, (10.1, 90.4))):
                renderer.draw_text(renderer.new_gc(), x, y, "Ag 0.5 ×÷µ", FontProperties(),
                                   angle)
            # Over an opaque colour, in colour, with glyphs that touch (kerning, "ff").
            np.asarray(renderer.buffer_rgba())[60:] = (200, 180, 160, 255)
            gc = renderer.new_gc()
            gc.set_foreground((0.8, 0.1, 0.2))
            renderer.draw_text(gc, 2.7, 40.2, "AVAWAY ffi 10.25", FontProperties(size=11), 0)
            renderer.draw_text(gc, 40.2, 118.6, "-0.75 W", FontProperties(size=8), 90)
            pictures.append(np.asarray(renderer.buffer_rgba()).copy())
        return all(np.array_equal(pictures[0], p) for p in pictures[1:])
    except (AttributeError, TypeError, ValueError, RuntimeError):
        return False  # another matplotlib: text is drawn the ordinary way


class _Overlay:
    """Artists drawn on a transparent canvas, cropped to their pixels: a run of unchanged
    artists over the background, or a sprite of one text or axis."""

    def __init__(self, pixels: np.ndarray, height: int, window=None):
        """``window``: a Bbox (display coordinates) known to hold every drawn pixel."""
        top0 = left0 = 0
        if window is not None:  # look for the pixels there only
            top0 = max(0, int(np.floor(height - window.y1)))
            left0 = max(0, int(np.floor(window.x0)))
            pixels = pixels[top0:max(top0, int(np.ceil(height - window.y0))),
                            left0:max(left0, int(np.ceil(window.x1)))]
        rows = np.flatnonzero(pixels[..., 3].any(axis=1))
        cols = np.flatnonzero(pixels[..., 3].any(axis=0))
        self.empty = rows.size == 0
        if self.empty:
            return
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        # draw_image takes rows from the bottom up, and the offset of the bottom left corner.
        self.pixels = np.ascontiguousarray(pixels[top:bottom, left:right][::-1])
        self.x, self.y = int(left0 + left), int(height - top0 - bottom)


_NOTHING = _Overlay(np.zeros((1, 1, 4), np.uint8), 1)


def _draws_nothing(axis: Axis) -> bool:
    """An axis without ticks and labels (as images have): drawing it leaves no pixel."""
    return not axis.get_visible() or (
        len(axis.get_majorticklocs()) == 0 and len(axis.get_minorticklocs()) == 0
        and not axis.label.get_text() and not axis.offsetText.get_text())


class _Layers:
    """The cached background and overlays of one figure, and the artists they hold.

    ``runs[0]`` is drawn in the background, each later run in an overlay; the artists
    between runs (and those not in any run) are drawn at every frame.
    """

    def __init__(self, fig: Figure, renderer, units: list, dynamic: set,
                 before: dict | None = None):
        self.renderer = renderer
        self.size = (fig.bbox.width, fig.bbox.height, fig.dpi)
        runs, current = [], []
        for unit in units:
            if id(unit) in dynamic or _looks_changed(unit, before):
                if current or not runs:
                    runs.append(current)
                    current = []
            else:
                current.append(unit)
        if current or not runs:
            runs.append(current)
        self.axes = {}  # id(Axes) -> (Axes, view limits, position) when the layers were drawn
        for ax in fig.axes:
            if ax.get_visible():
                ax._update_title_position(renderer)  # as Axes.draw does before its children
            self.axes[id(ax)] = (ax, tuple(ax.viewLim.bounds),
                                 tuple(ax.get_position(original=False).bounds))
        self.runs = runs
        self.run_of = {id(unit): (r, p) for r, run in enumerate(runs)
                       for p, unit in enumerate(run)}
        height = int(renderer.height)  # the canvas's whole pixels (the bbox may be fractional)
        renderer.clear()
        for unit in runs[0]:
            unit.draw(renderer)
        self.background = renderer.copy_from_bbox(fig.bbox)
        self.overlays = []
        for run in runs[1:]:
            renderer.clear()
            for unit in run:
                unit.draw(renderer)
            self.overlays.append(_Overlay(np.asarray(renderer.buffer_rgba()), height))
        self.signatures = {id(unit): _signature(unit) for run in runs for unit in run}
        for unit in units:
            _settle(unit)

    def fits(self, fig: Figure) -> bool:
        """Whether the figure still has the size and Axes positions the layers were drawn at."""
        if (fig.bbox.width, fig.bbox.height, fig.dpi) != self.size:
            return False
        if any(id(ax) not in self.axes for ax in fig.axes):
            return False
        return all(tuple(ax.get_position(original=False).bounds) == position
                   for ax, _, position in self.axes.values())

    def dynamic_in(self, units: list) -> set:
        """Ids of the units to leave out of new layers: those in no layer, and those changed."""
        moved = self._moved_axes()
        return {id(u) for u in units if id(u) not in self.run_of or self._changed(u, moved)}

    def plan(self, units: list) -> list | None:
        """This frame's steps in order, artists to draw and overlays to blend; or None when
        the layers no longer fit (an artist of theirs changed, went, or moved in the order)."""
        moved = self._moved_axes()
        steps, run, position = [], 0, 0
        for unit in units:
            where = self.run_of.get(id(unit))
            if where is None:  # drawn at every frame, but not inside a cached run
                if position != len(self.runs[run]):
                    return None
                steps.append(unit)
                continue
            r, p = where
            if (r, p) == (run, position):
                position += 1
            elif r == run + 1 and p == 0 and position == len(self.runs[run]):
                run, position = r, 1
                if not self.overlays[r - 1].empty:
                    steps.append(self.overlays[r - 1])
            else:
                return None
            if self._changed(unit, moved):
                return None
        if run != len(self.runs) - 1 or position != len(self.runs[run]):
            return None
        return steps

    def _moved_axes(self) -> dict[int, tuple[bool, bool]]:
        """``{id(Axes): (x limits moved, y limits moved)}`` since the layers were drawn."""
        moved = {}
        for key, (ax, bounds, _) in self.axes.items():
            now = tuple(ax.viewLim.bounds)
            if now != bounds:
                moved[key] = (now[0] != bounds[0] or now[2] != bounds[2],
                              now[1] != bounds[1] or now[3] != bounds[3])
        return moved

    def _changed(self, unit, moved: dict) -> bool:
        if isinstance(unit, Axis):  # limits move an axis without marking it
            if _signature(unit) != self.signatures.get(id(unit)):
                return True
        elif isinstance(unit, Text):  # a text set to what it was is marked, yet unchanged
            if unit._stale:
                if _signature(unit) != self.signatures.get(id(unit)):
                    return True
                unit._stale = False
        elif _stale(unit):
            return True
        ax = getattr(unit, "axes", None)
        if ax is not None and id(ax) in moved and not isinstance(unit, Axis):
            return _uses_data(unit, ax, *moved[id(ax)])
        return False


def _units(fig: Figure, renderer) -> list | None:
    """The figure's artists in the order ``Figure.draw`` and ``Axes.draw`` draw them, each
    Axes opened into its children; None for a figure this module does not handle."""
    artists = fig._get_draw_artists(renderer)  # sorted by zorder; applies the Axes' aspects
    units = [fig.patch]
    for artist in artists:
        if isinstance(artist, Axes):
            if not artist.get_visible():
                continue
            children = _axes_units(artist)
            if children is None:
                return None
            units += children
        else:
            units.append(artist)
    return units


def _axes_units(ax: Axes) -> list | None:
    if ax._rasterization_zorder is not None or ax.child_axes:
        return None
    ax.viewLim  # noqa: B018  (brings pending autoscaling up to date, as Axes.draw does)
    children = ax.get_children()
    children.remove(ax.patch)
    framed = ax.axison and ax._frameon
    if not framed:
        spines = {id(s) for s in ax.spines.values()}
        children = [c for c in children if id(c) not in spines]
    if not ax.axison:
        axes = {id(a) for a in ax._axis_map.values()}
        children = [c for c in children if id(c) not in axes]
    children.sort(key=lambda a: a.zorder)
    return ([ax.patch] if framed else []) + children


def _parts(artist) -> list:
    """The artist's children; for an axis, the ticks it has made so far, without running its
    tick locator as ``Axis.get_children`` does (the one costly step of a redraw otherwise)."""
    if isinstance(artist, Axis):
        return [artist.label, artist.offsetText, *artist.majorTicks, *artist.minorTicks]
    return artist.get_children()


def _stale(artist) -> bool:
    """Whether the artist or any part of it was changed since it was last drawn."""
    return artist._stale or any(_stale(child) for child in _parts(artist))


def _looks_changed(unit, before: dict | None = None) -> bool:
    """Whether the update before the layers are drawn changed a unit: a guess of what the
    next updates will change, which only sorts the artists into layers (whether the layers
    still hold is decided after each update, by signatures and marks).

    ``before``: signatures of the texts and axes before the first update. Parts never drawn
    (invisible, empty texts) stay marked forever and are ignored.
    """
    if isinstance(unit, Text):  # set by the update, even to the same string: drawn from a
        return unit._stale and unit.get_text() != ""  # sprite, that costs little
    if isinstance(unit, Axis):
        return unit._stale or (before is not None and before.get(id(unit)) != _signature(unit))
    return unit._stale or any(child.get_visible() and _looks_changed(child)
                              for child in unit.get_children())


def _settle(artist) -> None:
    """Mark the artist and its parts as drawn."""
    artist._stale = False
    for child in _parts(artist):
        _settle(child)


def _signature(unit) -> tuple | None:
    """What decides the look of a text or an axis, to compare before and after an update."""
    if isinstance(unit, Text):
        box = unit.get_bbox_patch()
        where = unit.get_transform().transform(unit.get_unitless_position())  # in pixels
        return (unit.get_text(), tuple(where), str(unit.get_color()),
                hash(unit.get_fontproperties()), unit.get_rotation(), unit.get_ha(),
                unit.get_va(), unit.get_visible(), unit.get_alpha(), unit.get_zorder(),
                None if box is None else _stale(box),
                unit.get_clip_on() and (unit.get_clip_box() is not None
                                        and tuple(unit.get_clip_box().bounds)))
    if isinstance(unit, Axis):
        # Ticks follow from the limits, the locators and formatters (objects replaced by
        # set_ticks and the like) and the tick settings; not from anything else.
        # The label's place and the offset text are worked out when the axis is drawn.
        label = unit.label
        return (tuple(unit.axes.bbox.bounds), tuple(unit.get_view_interval()),
                id(unit.major.locator),
                id(unit.major.formatter), id(unit.minor.locator), id(unit.minor.formatter),
                repr(unit._major_tick_kw), repr(unit._minor_tick_kw), unit.get_scale(),
                unit.get_visible(), label.get_text(), str(label.get_color()),
                hash(label.get_fontproperties()), label.get_rotation(), label.get_visible(),
                unit._autolabelpos or tuple(label.get_position()))
    return None


def _uses_data(artist, ax: Axes, x_moved: bool, y_moved: bool) -> bool:
    """Whether the artist is placed in ``ax``'s data coordinates along an axis that moved."""
    transform = artist.get_transform()
    try:
        along_x, along_y = transform.contains_branch_seperately(ax.transData)
    except ValueError:
        along_x = along_y = transform.contains_branch(ax.transData)
    return (along_x and x_moved) or (along_y and y_moved)


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

"""Agg text from kept glyph bitmaps: what :class:`~mednotes.widgets._figure.FigureFrames`
draws its texts with, pixel for pixel what matplotlib's Agg draws, in a third of the time.

:func:`_renderer` checks the agreement once per process (:func:`_text_cache_agrees`) and
falls back to Agg's own renderer for a matplotlib whose text drawing differs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import ClassVar

import numpy as np
from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag
from matplotlib.ft2font import RenderMode


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

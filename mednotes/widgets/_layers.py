"""The cached layers of :class:`~mednotes.widgets._figure.FigureFrames`: which artists of a
figure changed since the last picture, and the unchanged ones drawn once, as a background and
transparent overlays, in matplotlib's drawing order.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.text import Text


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

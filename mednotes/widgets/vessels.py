"""The vessel threshold explorer: move the operating point of a vessel map, watch Dice and clDice.

A segmentation method for vessels gives a *map* (a U-Net's probability, a Frangi vesselness
response) and a threshold turns it into a mask. The explorer shows, for one image and several
maps, what the threshold does:

- left: the image with the mask's pixels coloured by agreement with the ground truth (true
  positive, false positive, false negative);
- middle: centre lines, the ground truth's skeleton coloured by whether the mask covers it
  (what skeleton recall counts) and the mask's skeleton outside the vessels (what skeleton
  precision counts);
- right: Dice and clDice of the mask against the threshold, with the current threshold and
  the method's chosen operating point (e.g. picked on a validation split) marked.

The numbers come from :func:`mednotes.metrics.dice_score` and
:mod:`mednotes.metrics.topology`.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import animation
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mednotes._checks import check_int, check_number, describe
from mednotes.metrics import dice_score
from mednotes.metrics.topology import (
    cl_dice,
    skeleton,
    skeleton_precision,
    skeleton_recall,
)
from mednotes.viz import as_numpy
from mednotes.widgets._figure import FigureFrames

#: Colours of the agreement map: true positives, false positives, false negatives.
AGREEMENT_COLORS = {"true positive": "#3bff6e", "false positive": "#ffd400",
                    "false negative": "#ff3b3b"}
#: Colours of the centre lines: covered and missed ground-truth skeleton, spurious skeleton.
SKELETON_COLORS = {"vessel centre line found": "#3bff6e", "centre line missed": "#ff3b3b",
                   "predicted line outside vessels": "#ffd400"}
#: Thresholds per map drawn in the curves (and offered by the slider).
STEPS = 41


def vessel_scores(vessel_map, target, threshold: float) -> dict[str, float]:
    """Dice, clDice, skeleton recall and precision of ``vessel_map > threshold``.

    Args:
        vessel_map: ``(H, W)`` map, larger where a vessel is more likely.
        target: ``(H, W)`` ground truth, bool or 0/1.
        threshold: the operating point.

    Returns:
        ``{"Dice", "clDice", "skeleton recall", "skeleton precision"}`` as floats; NaN
        where the ground truth is empty.

    Explained in: Ophthalmology: retinal vessel segmentation.

    Example:
        >>> target = torch.zeros(16, 16, dtype=torch.bool); target[8, 2:14] = True
        >>> vessel_map = target.float() + 0.1 * (torch.arange(16.0) == 3)[:, None]  # + a row
        >>> s = vessel_scores(vessel_map, target, 0.05)        # the vessel and the false row
        >>> {name: round(value, 3) for name, value in s.items()}
        {'Dice': 0.6, 'clDice': 0.6, 'skeleton recall': 1.0, 'skeleton precision': 0.429}
    """
    vessel_map, target = _as_pair(vessel_map, target)
    threshold = check_number("threshold", threshold)
    return {name: float(values[0]) for name, values in
            _scores(torch.from_numpy(vessel_map[None] > threshold), target).items()}


def _scores(masks: torch.Tensor, target: np.ndarray) -> dict[str, torch.Tensor]:
    """The four scores of ``(K, H, W)`` bool masks against one ground truth: ``(K,)`` each."""
    p = masks[:, None]
    g = torch.from_numpy(target)[None, None].expand_as(p)
    return {"Dice": dice_score(p, g)[:, 0], "clDice": cl_dice(p, g)[:, 0],
            "skeleton recall": skeleton_recall(p, g)[:, 0],
            "skeleton precision": skeleton_precision(p, g)[:, 0]}


def _as_pair(vessel_map, target) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(vessel_map, (torch.Tensor, np.ndarray)):
        raise TypeError(f"vessel_map must be a tensor or an array, got {describe(vessel_map)}")
    if not isinstance(target, (torch.Tensor, np.ndarray)):
        raise TypeError(f"target must be a tensor or an array, got {describe(target)}")
    values = np.asarray(as_numpy(vessel_map), dtype=np.float64)
    truth = np.asarray(as_numpy(target))
    if values.ndim != 2:
        raise ValueError(f"vessel_map must be a 2D map (H, W), got shape {values.shape}")
    if truth.shape != values.shape:
        raise ValueError(f"target has shape {truth.shape}, vessel_map has shape "
                         f"{values.shape}; they must match")
    if not np.isfinite(values).all():
        raise ValueError("vessel_map holds NaN or inf values")
    if truth.dtype != np.bool_:
        if not np.isin(truth, (0, 1)).all():
            raise ValueError("target must be a bool mask or hold only 0 and 1")
        truth = truth.astype(bool)
    if not truth.any():
        raise ValueError("target must hold at least one vessel pixel")
    return values, truth


def _inputs(image, target, maps, operating_points):
    if not isinstance(maps, dict) or not maps:
        raise TypeError(f"maps must be a non-empty dict of name -> (H, W) map, got "
                        f"{describe(maps)}")
    checked, truth = {}, None
    for name, vessel_map in maps.items():
        if not isinstance(name, str):
            raise TypeError(f"maps must be keyed by names (str), got {describe(name)}")
        checked[name], truth = _as_pair(vessel_map, target)
    points = {} if operating_points is None else operating_points
    if not isinstance(points, dict) or not set(points) <= set(checked):
        raise ValueError(f"operating_points must be a dict whose keys are among the maps' "
                         f"names {list(checked)}, got {describe(points)}")
    points = {name: check_number(f"operating_points[{name!r}]", value)
              for name, value in points.items()}
    picture = np.asarray(as_numpy(image), dtype=float)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    if picture.shape[:2] != truth.shape or picture.ndim not in (2, 3):
        raise ValueError(f"image has shape {picture.shape}, target has shape {truth.shape}; "
                         "image must be (H, W), (1, H, W) or RGB (3, H, W) of the same size")
    return picture, truth, checked, points


def _grid(values: np.ndarray) -> np.ndarray:
    """The thresholds offered for a map: ``STEPS`` from just above its minimum to just
    below its maximum (inside the field of view, every threshold gives another mask)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.array([low])
    return np.linspace(low, high, STEPS + 2)[1:-1]


def _vessel_figure(picture, truth, maps, points, dpi: int = 80):
    """Agreement map, centre lines, scores against the threshold; ``(fig, update)``."""
    fig = Figure(figsize=(11.0, 3.8), dpi=dpi, layout="constrained")
    ax_map, ax_skel, ax_curve = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.3]})
    grey = picture if picture.ndim == 2 else picture.mean(-1)
    for ax, shown in ((ax_map, picture), (ax_skel, grey)):
        ax.imshow(shown, cmap="gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    agreement = ax_map.imshow(np.zeros((*truth.shape, 4)), interpolation="nearest")
    lines_layer = ax_skel.imshow(np.zeros((*truth.shape, 4)), interpolation="nearest")
    ax_map.legend(handles=[Line2D([], [], marker="s", ls="", color=c, label=name)
                           for name, c in AGREEMENT_COLORS.items()],
                  loc="lower left", fontsize=8, framealpha=0.8, handletextpad=0.2)
    ax_skel.legend(handles=[Line2D([], [], marker="s", ls="", color=c, label=name)
                            for name, c in SKELETON_COLORS.items()],
                   loc="lower left", fontsize=8, framealpha=0.8, handletextpad=0.2)
    grids = {name: _grid(values) for name, values in maps.items()}
    curves = {name: _scores(torch.from_numpy(values[None] > grids[name][:, None, None]), truth)
              for name, values in maps.items()}
    (dice_line,) = ax_curve.plot([], [], label="Dice")
    (cl_line,) = ax_curve.plot([], [], label="clDice")
    (recall_line,) = ax_curve.plot([], [], ls=":", label="skeleton recall")
    marker = ax_curve.axvline(0, color="tab:red", lw=1.2, label="threshold")
    chosen = ax_curve.axvline(0, color="0.3", lw=1, ls="--", label="operating point")
    ax_curve.set_ylim(-0.02, 1.02)
    ax_curve.set_ylabel("score")
    ax_curve.legend(loc="lower left", fontsize=8, framealpha=0.8)
    skeleton_truth = skeleton(truth)
    colours = np.array([to_rgba(c) for c in AGREEMENT_COLORS.values()])
    line_colours = np.array([to_rgba(c) for c in SKELETON_COLORS.values()])

    def update(name: str, threshold: float) -> dict:
        values = maps[name]
        hard = values > threshold
        scores = {key: float(v[0]) for key, v in _scores(torch.from_numpy(hard[None]),
                                                         truth).items()}
        layer = np.zeros((*hard.shape, 4))
        for k, where in enumerate((hard & truth, hard & ~truth, ~hard & truth)):
            layer[where] = colours[k] * [1, 1, 1, 0.65]
        agreement.set_data(layer)
        lines = np.zeros((*hard.shape, 4))
        skeleton_pred = skeleton(hard)
        for k, where in enumerate((skeleton_truth & hard, skeleton_truth & ~hard,
                                   skeleton_pred & ~truth)):
            lines[where] = line_colours[k]
        lines_layer.set_data(lines)
        grid, curve = grids[name], curves[name]
        dice_line.set_data(grid, curve["Dice"].numpy())
        cl_line.set_data(grid, curve["clDice"].numpy())
        recall_line.set_data(grid, curve["skeleton recall"].numpy())
        span = (grid[0], grid[-1]) if grid[-1] > grid[0] else (grid[0] - 1, grid[0] + 1)
        ax_curve.set_xlim(*span)
        ax_curve.set_xlabel(f"threshold on the {name} map")
        marker.set_xdata([threshold, threshold])
        chosen.set_visible(name in points)
        if name in points:
            chosen.set_xdata([points[name], points[name]])
        ax_map.set_title(f"{name}: Dice {scores['Dice']:.2f}", fontsize=10)
        ax_skel.set_title(f"clDice {scores['clDice']:.2f}, skeleton recall "
                          f"{scores['skeleton recall']:.2f}", fontsize=10)
        ax_curve.set_title(f"threshold {threshold:.3g}", fontsize=10)
        return scores

    first = next(iter(maps))
    update(first, points.get(first, float(np.median(grids[first]))))
    fig.draw_without_rendering()  # lay the panels out once; frames then only redraw
    fig.set_layout_engine("none")
    return fig, update, grids


def _readout(scores: dict) -> str:
    return (f"Dice {scores['Dice']:.3f} · clDice {scores['clDice']:.3f} · skeleton recall "
            f"{scores['skeleton recall']:.3f} · skeleton precision "
            f"{scores['skeleton precision']:.3f}")


def vessel_threshold_explorer(image, target, maps: dict, operating_points: dict | None = None):
    """A method menu and a threshold slider over vessel maps, with Dice and clDice.

    Args:
        image: the image to draw under the masks: ``(H, W)``, ``(1, H, W)`` or RGB.
        target: ``(H, W)`` ground-truth vessel mask (bool or 0/1), with some vessel.
        maps: ``{name: (H, W) map}``, e.g. ``{"U-Net": probability, "Frangi": response}``;
            larger values mean "more likely a vessel".
        operating_points: ``{name: threshold}`` chosen beforehand (on a validation split);
            the slider starts there and the curves mark it.

    Returns:
        An ``ipywidgets`` box; leave it last in a cell to use it.

    Explained in: Ophthalmology: retinal vessel segmentation.

    Example:
        >>> target = torch.zeros(32, 32, dtype=torch.bool); target[16, 4:28] = True
        >>> box = vessel_threshold_explorer(torch.rand(32, 32), target,
        ...                                 {"ideal": target.float()}, {"ideal": 0.5})
        >>> [w.description for w in box.children[:2]], box.children[2].value[:11]
        (['method', 'threshold'], 'Dice 1.000 ')
    """
    import ipywidgets as widgets

    picture, truth, checked, points = _inputs(image, target, maps, operating_points)
    fig, update, grids = _vessel_figure(picture, truth, checked, points, dpi=72)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown
    first = next(iter(checked))

    def options(name: str) -> tuple[list, float]:
        values = [float(v) for v in grids[name]]
        if name in points:
            values = sorted(set(values) | {points[name]})
        return [(f"{v:.3g}", v) for v in values], points.get(name, values[len(values) // 2])

    method = widgets.Dropdown(options=list(checked), value=first, description="method")
    choices, start = options(first)
    slider = widgets.SelectionSlider(options=choices, value=start, description="threshold",
                                     continuous_update=False)
    readout = widgets.Label()
    picture_widget = widgets.Image(format="png")

    def offer(name: str) -> None:
        choices, start = options(name)
        slider.options = choices
        slider.value = start

    def redraw(*_):
        state = (method.value, float(slider.value))
        picture_widget.value, scores = frames.frame(state, lambda: update(*state))
        readout.value = _readout(scores)

    def switch(*_):
        slider.unobserve(redraw, names="value")
        offer(method.value)
        slider.observe(redraw, names="value")
        redraw()

    offer(first)
    method.observe(switch, names="value")
    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([method, slider, readout, picture_widget])


def _default_path(grids: dict, points: dict) -> list[tuple[str, float]]:
    """Frames of the static twin: each method from a low threshold to a high one, with its
    operating point among them."""
    frames = []
    per_method = max(2, 18 // len(grids))
    for name, grid in grids.items():
        picks = list(grid[np.linspace(0, len(grid) - 1, per_method).round().astype(int)])
        if name in points:
            picks = sorted(set(picks) | {points[name]})
        frames += [(name, float(t)) for t in picks]
    return frames[:24]


def vessel_threshold_animation(image, target, maps: dict, operating_points: dict | None = None,
                               path=None, *, interval_ms: int = 700, dpi: int = 64):
    """The static twin of :func:`vessel_threshold_explorer`: thresholds swept in frames.

    Args:
        image, target, maps, operating_points: as for :func:`vessel_threshold_explorer`.
        path: ``(method name, threshold)`` per frame, 1 to 24 frames; default: each method
            swept from a low to a high threshold, its operating point included.
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Explained in: Ophthalmology: retinal vessel segmentation.

    Example:
        >>> target = torch.zeros(32, 32, dtype=torch.bool); target[16, 4:28] = True
        >>> anim = vessel_threshold_animation(torch.rand(32, 32), target,
        ...                                   {"ideal": target.float()},
        ...                                   path=[("ideal", 0.2), ("ideal", 0.7)])
        >>> html = anim.to_jshtml()
        >>> html.count("frames[1]"), html.count("frames[2]")
        (1, 0)
    """
    picture, truth, checked, points = _inputs(image, target, maps, operating_points)
    interval_ms = check_int("interval_ms", interval_ms, 1)
    dpi = check_int("dpi", dpi, 10)
    fig, update, grids = _vessel_figure(picture, truth, checked, points, dpi=dpi)
    if path is None:
        steps = _default_path(grids, points)
    else:
        if not isinstance(path, (list, tuple)) or not 1 <= len(path) <= 24:
            raise ValueError("path must hold 1 to 24 frames, each (method name, threshold)")
        steps = []
        for item in path:
            if not isinstance(item, (list, tuple)) or len(item) != 2 or item[0] not in checked:
                raise ValueError(f"each frame of path must be (method name, threshold) with a "
                                 f"name among {list(checked)}, got {item!r}")
            steps.append((item[0], check_number("threshold", item[1])))

    def frame(k: int):
        update(*steps[k])
        return ()

    frame(0)
    return animation.FuncAnimation(fig, frame, frames=len(steps), interval=interval_ms,
                                   blit=False)


__all__ = ["vessel_scores", "vessel_threshold_animation", "vessel_threshold_explorer"]

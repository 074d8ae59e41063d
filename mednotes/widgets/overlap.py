"""The overlap explorer: move, grow and shrink a prediction, and watch CE, Dice and IoU.

The prediction is the ground truth's own outline, moved and grown or shrunk, with a softness.
Its logit at a pixel is ``(d(x - shift) + grow) / softness``, clipped to ``±MAX_LOGIT``, where
``d`` is the signed distance to the ground truth's outline (positive inside, in pixels): with no
shift and no growth the 0.5-level of the prediction is the ground truth itself, the softness sets
how fast the prediction becomes sure on either side of its outline, and the clipping how sure it
gets (as a network's output, it does not grow more certain without end away from an edge). From
these logits come the four numbers the explorer reports:

- the cross-entropy, averaged over every pixel of the image;
- the soft Dice of the probabilities (what a Dice loss sees);
- the Dice and the IoU of the hard mask ``p > 0.5`` (what a metric sees).

All four are computed by :mod:`mednotes.losses` and :mod:`mednotes.metrics`.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import animation
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import ndimage

from mednotes._checks import check_number, is_int
from mednotes.losses import binary_cross_entropy_with_logits, dice_loss
from mednotes.metrics import dice_score, iou_score
from mednotes.viz import MASK_COLORS, as_numpy
from mednotes.widgets._figure import FigureFrames, nice_limit

#: Colours of the agreement map: true positives, false positives, false negatives.
AGREEMENT_COLORS = {"true positive": "#3bff6e", "false positive": "#ffd400",
                    "false negative": "#ff3b3b"}
#: The largest shift the explorer offers, in pixels (either direction).
MAX_SHIFT = 16
#: The most confident logit: probabilities stay within [0.0003, 0.9997].
MAX_LOGIT = 8.0
#: The range of growth the explorer offers, in pixels (negative: shrink).
GROW_RANGE = (-6, 6)
_SCORES = ("cross-entropy", "soft Dice", "Dice", "IoU")


def default_target(size: int = 48) -> torch.Tensor:
    """A lesion-like ground truth: an ellipse, off-centre, on a ``size × size`` grid (bool).

    Example:
        >>> mask = default_target()
        >>> mask.shape, mask.dtype, int(mask.sum())
        (torch.Size([48, 48]), torch.bool, 100)
    """
    if not is_int(size) or size < 16:
        raise ValueError(f"size must be an int >= 16, got {size!r}")
    y, x = np.mgrid[:size, :size].astype(float)
    cy, cx = 0.45 * size, 0.5 * size
    inside = ((y - cy) / (0.1 * size)) ** 2 + ((x - cx) / (0.14 * size)) ** 2 <= 1.0
    return torch.from_numpy(inside)


def signed_distance(mask) -> np.ndarray:
    """Signed distance to the outline of a 2D mask, in pixels: positive inside, negative outside.

    Each pixel gets its distance to the nearest pixel of the other side, less half a pixel, so
    that the 0-level runs between the mask's boundary pixels and the pixels just outside them
    (``signed_distance(m) > 0`` is ``m`` again).

    Example:
        >>> m = np.zeros((1, 7), bool); m[0, 2:5] = True
        >>> signed_distance(m).tolist()
        [[-1.5, -0.5, 0.5, 1.5, 0.5, -0.5, -1.5]]
    """
    inside = np.asarray(as_numpy(mask)).astype(bool)
    if inside.ndim != 2:
        raise ValueError(f"mask must be a 2D mask, got {inside.ndim} dims")
    if not inside.any() or inside.all():
        raise ValueError("mask must hold both foreground and background pixels")
    return (ndimage.distance_transform_edt(inside) - ndimage.distance_transform_edt(~inside)
            - 0.5 * np.sign(inside - 0.5))


def prediction_logits(distance: np.ndarray, shift=(0, 0), grow: float = 0.0,
                      softness: float = 1.0) -> torch.Tensor:
    """The explorer's prediction: ``(d(x - shift) + grow) / softness``, clipped to
    ``±MAX_LOGIT``, as a float64 tensor.

    Args:
        distance: the ground truth's :func:`signed_distance`.
        shift: ``(rows, columns)`` in whole pixels; positive moves down and right.
        grow: pixels added to (negative: taken from) the outline all round.
        softness: pixels over which the probability goes from 0.27 to 0.73 (logit −1 to 1);
            small is confident.

    Example:
        >>> d = signed_distance(default_target())
        >>> z = prediction_logits(d, shift=(0, 3), grow=1.0)
        >>> z.shape, bool((z > 0).sum() > (torch.from_numpy(d) > 0).sum())
        (torch.Size([48, 48]), True)
    """
    rows, cols = (int(s) for s in shift)
    softness = check_number("softness", softness, low=0.0, open_low=True)
    moved = ndimage.shift(distance, (rows, cols), order=0, mode="constant",
                          cval=float(distance.min()))
    return torch.from_numpy(np.clip((moved + float(grow)) / softness, -MAX_LOGIT, MAX_LOGIT))


def overlap_scores(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Cross-entropy, soft Dice, Dice and IoU of a one-channel prediction against a mask.

    Args:
        logits: ``(H, W)`` logits of the foreground (sigmoid).
        target: ``(H, W)`` bool ground truth.

    Returns:
        ``{"cross-entropy", "soft Dice", "Dice", "IoU"}``: the mean binary cross-entropy over
        the pixels, ``1 - dice_loss`` on the sigmoid probabilities (MONAI's smoothing 1e-5),
        and the metrics of the hard mask ``logits > 0``.

    Example:
        >>> t = default_target()
        >>> s = overlap_scores(prediction_logits(signed_distance(t), softness=0.5), t)
        >>> round(s["Dice"], 3), round(s["IoU"], 3), s["soft Dice"] < 1
        (1.0, 1.0, True)
    """
    return {name: float(values[0]) for name, values in _batch_scores(logits[None], target).items()}


def _batch_scores(logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """:func:`overlap_scores` for ``(K, H, W)`` logits against one ``(H, W)`` mask: ``(K,)`` each."""
    z = logits[:, None].double()
    g = target[None, None].expand_as(z)
    hard = z > 0
    return {
        "cross-entropy": binary_cross_entropy_with_logits(z, g.double(), reduction="none")
        .mean((1, 2, 3)),
        "soft Dice": 1 - dice_loss(z, g.double(), activation="sigmoid", reduction="none")[:, 0],
        "Dice": dice_score(hard, g, ignore_empty=False)[:, 0],
        "IoU": iou_score(hard, g, ignore_empty=False)[:, 0],
    }


def _inputs(target, image):
    mask = default_target() if target is None else target
    mask = torch.as_tensor(as_numpy(mask)).bool()
    distance = signed_distance(mask)  # checks the mask
    if image is None:
        picture = np.full(mask.shape, 0.35)
    else:
        picture = np.asarray(as_numpy(image), dtype=float)
        if picture.ndim == 3 and picture.shape[0] == 1:
            picture = picture[0]
        if picture.shape != tuple(mask.shape):
            raise ValueError(f"image has shape {picture.shape}, target has shape "
                             f"{tuple(mask.shape)}; they must match")
    return mask, distance, picture


def _overlap_figure(target: torch.Tensor, distance: np.ndarray, image: np.ndarray,
                    dpi: int = 80):
    """Agreement map, probability map and scores against the shift; ``(fig, update)``."""
    fig = Figure(figsize=(11.0, 3.7), dpi=dpi, layout="constrained")
    ax_map, ax_prob, ax_curve = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.25]})
    truth = as_numpy(target).astype(float)
    low, high = float(image.min()), float(image.max())
    ax_map.imshow(image, cmap="gray", interpolation="nearest", vmin=min(low, 0.0),
                  vmax=max(high, 1.0))
    agreement = ax_map.imshow(np.zeros((*truth.shape, 4)), interpolation="nearest")
    ax_map.legend(handles=[Line2D([], [], marker="s", ls="", color=c, label=name)
                           for name, c in AGREEMENT_COLORS.items()],
                  loc="lower left", fontsize=9, framealpha=0.8, handletextpad=0.2)
    prob = ax_prob.imshow(truth, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(prob, ax=ax_prob, fraction=0.046, pad=0.04, label="p(lesion)")
    for ax in (ax_map, ax_prob):
        ax.contour(truth, levels=[0.5], colors=[MASK_COLORS[0]], linewidths=1.2)
        ax.set_xticks([])
        ax.set_yticks([])
    shifts = np.arange(-MAX_SHIFT, MAX_SHIFT + 1)
    lines = {name: ax_curve.plot(shifts, np.zeros(len(shifts)), label=name)[0]
             for name in _SCORES[1:]}
    ax_curve.set_ylim(-0.02, 1.02)
    ax_curve.set_xlim(shifts[0], shifts[-1])
    ax_curve.set_xlabel("horizontal shift (pixels)")
    ax_curve.set_ylabel("overlap score")
    ax_ce = ax_curve.twinx()
    (ce_line,) = ax_ce.plot(shifts, np.zeros(len(shifts)), color="0.2", ls="--",
                            label="cross-entropy")
    ax_ce.set_ylabel("cross-entropy (mean per pixel)")
    marker = ax_curve.axvline(0, color="tab:red", lw=1)
    ax_curve.legend(handles=[*lines.values(), ce_line], loc="upper left", fontsize=9,
                    framealpha=0.8)
    colours = np.array([to_rgba(c) for c in AGREEMENT_COLORS.values()])
    sweeps: dict = {}  # (row shift, grow, softness) -> scores at every horizontal shift

    def update(shift_rows: int, shift_cols: int, grow: float, softness: float) -> dict:
        z = prediction_logits(distance, (shift_rows, shift_cols), grow, softness)
        scores = overlap_scores(z, target)
        hard, truth_b = (z > 0).numpy(), target.numpy()
        layer = np.zeros((*hard.shape, 4))
        for k, where in enumerate((hard & truth_b, hard & ~truth_b, ~hard & truth_b)):
            layer[where] = colours[k] * [1, 1, 1, 0.6]
        agreement.set_data(layer)
        prob.set_data(torch.sigmoid(z).numpy())
        ax_map.set_title(f"Dice {scores['Dice']:.2f}, IoU {scores['IoU']:.2f}", fontsize=10)
        ax_prob.set_title(f"prediction: CE {scores['cross-entropy']:.3f}, "
                          f"soft Dice {scores['soft Dice']:.2f}", fontsize=10)
        key = (shift_rows, grow, softness)  # a horizontal move keeps the curves
        if key not in sweeps:
            if len(sweeps) >= 64:
                sweeps.clear()
            sweeps[key] = _batch_scores(torch.stack([
                prediction_logits(distance, (shift_rows, int(s)), grow, softness)
                for s in shifts]), target)
        sweep = sweeps[key]
        for name, line in lines.items():
            line.set_ydata(sweep[name].numpy())
        ce = sweep["cross-entropy"].numpy()
        ce_line.set_ydata(ce)
        ax_ce.set_ylim(0, nice_limit(1.05 * float(ce.max())))  # ticks change with the scale only
        marker.set_xdata([shift_cols, shift_cols])
        ax_curve.set_title(f"row shift {shift_rows:+d}, grow {grow:+g}, softness {softness:g}",
                           fontsize=10)
        return scores

    update(0, 0, 0.0, 1.0)
    fig.draw_without_rendering()  # lay the panels out once; frames then only redraw
    fig.set_layout_engine("none")
    return fig, update


def _readout(scores: dict) -> str:
    return (f"CE {scores['cross-entropy']:.4f} · soft Dice {scores['soft Dice']:.3f} · "
            f"Dice {scores['Dice']:.3f} · IoU {scores['IoU']:.3f}")


def overlap_explorer(target=None, image=None, *, softness: float = 1.0):
    """Sliders that move, grow and shrink a predicted mask against a ground truth.

    The left panel shows the image with the ground truth's outline and the hard prediction
    (``p > 0.5``) coloured by agreement: true positives, false positives, false negatives.
    The middle panel shows the predicted probabilities. The right panel shows soft Dice,
    Dice, IoU and the cross-entropy for every horizontal shift at the current row shift,
    growth and softness, with the current shift marked; the readout gives all four.

    Args:
        target: a 2D ground-truth mask with foreground and background (default: an ellipse
            on a 48×48 grid, ``default_target``).
        image: the image under the mask, of the same shape (default: flat grey).
        softness: the start value of the softness slider, in pixels.

    Returns:
        An ``ipywidgets`` box; leave it last in a cell to use it.

    Explained in: Losses: cross-entropy, Dice and rare lesions.

    Example:
        >>> box = overlap_explorer()
        >>> [w.description for w in box.children[:4]]
        ['shift →', 'shift ↓', 'grow', 'softness']
        >>> box.children[4].value
        'CE 0.0266 · soft Dice 0.752 · Dice 1.000 · IoU 1.000'
    """
    import ipywidgets as widgets

    mask, distance, picture = _inputs(target, image)
    softness = check_number("softness", softness, 0.25, 4.0)
    right = widgets.IntSlider(value=0, min=-MAX_SHIFT, max=MAX_SHIFT, description="shift →",
                              continuous_update=False)
    down = widgets.IntSlider(value=0, min=-MAX_SHIFT, max=MAX_SHIFT, description="shift ↓",
                             continuous_update=False)
    grow = widgets.IntSlider(value=0, min=GROW_RANGE[0], max=GROW_RANGE[1], description="grow",
                             continuous_update=False)
    soft = widgets.FloatSlider(value=softness, min=0.25, max=4.0, step=0.25,
                               description="softness", continuous_update=False)
    readout = widgets.Label()
    picture_widget = widgets.Image(format="png")
    fig, update = _overlap_figure(mask, distance, picture, dpi=72)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        state = (down.value, right.value, float(grow.value), soft.value)
        picture_widget.value, scores = frames.frame(state, lambda: update(*state))
        readout.value = _readout(scores)

    for control in (right, down, grow, soft):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([right, down, grow, soft, readout, picture_widget])


def _default_path() -> list[tuple[int, int, int]]:
    """Frames of the static twin: slide right and back, then shrink and grow in place."""
    slide = [(0, s, 0) for s in (0, 4, 8, 13)]
    size = [(0, 0, g) for g in (-4, -2, 3)]
    return slide + size


def overlap_animation(target=None, image=None, path=None, *, softness: float = 1.0,
                      interval_ms: int = 700, dpi: int = 64):
    """The static twin of :func:`overlap_explorer`: the prediction moved and resized in frames.

    Args:
        target, image: as for :func:`overlap_explorer`.
        path: ``(row shift, column shift, grow)`` per frame (at most 24 frames); default:
            slide right by up to 13 pixels, then shrink and grow in place.
        softness: the prediction's softness, in pixels.
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Example:
        >>> anim = overlap_animation(path=[(0, 0, 0), (0, 3, 0), (0, 0, 2)])
        >>> html = anim.to_jshtml()
        >>> html.count("frames[2]"), html.count("frames[3]")
        (1, 0)
    """
    mask, distance, picture = _inputs(target, image)
    softness = check_number("softness", softness, 0.25, 4.0)
    steps = _default_path() if path is None else [tuple(int(v) for v in p) for p in path]
    if not 1 <= len(steps) <= 24 or any(len(p) != 3 for p in steps):
        raise ValueError("path must hold 1 to 24 frames, each (row shift, column shift, grow)")
    for rows, cols, grow in steps:
        if max(abs(rows), abs(cols)) > MAX_SHIFT or not GROW_RANGE[0] <= grow <= GROW_RANGE[1]:
            raise ValueError(f"shifts must lie within ±{MAX_SHIFT} and grow within "
                             f"{GROW_RANGE}, got {(rows, cols, grow)}")
    fig, update = _overlap_figure(mask, distance, picture, dpi=dpi)

    def frame(k: int):
        rows, cols, grow = steps[k]
        update(rows, cols, float(grow), softness)
        return ()

    frame(0)
    return animation.FuncAnimation(fig, frame, frames=len(steps), interval=interval_ms,
                                   blit=False)


__all__ = ["default_target", "overlap_animation", "overlap_explorer", "overlap_scores",
           "prediction_logits", "signed_distance"]

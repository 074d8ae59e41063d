"""The activation explorer: a layer's pre-activations, one activation, and the units it silences.

A model layer of ``units`` units sees a batch of ``inputs`` inputs. Unit ``u`` computes
``z = bias + scale * w_u · x`` for each input ``x``; its weight vector ``w_u`` points in a random
direction and has a random length (log-normal around 1), so some units vary widely over the
batch and some hardly at all. Push the shared bias down and the narrow units are the first
whose pre-activation is negative for every input: under ReLU they output zero for the whole
batch and receive zero gradient, the *dying ReLU*. Leaky ReLU and ELU keep a gradient there.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import animation
from matplotlib.figure import Figure

from mednotes.layers import ACTIVATIONS, derivative, elu, leaky_relu, relu
from mednotes.widgets._figure import FigureFrames, nice_limit

#: How the explorer names each activation.
LABELS = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "elu": "ELU"}
_INPUT_DIMS = 16  # dimension of the model inputs x
_Z_RANGE = (-8.0, 8.0)  # the window every panel shows, so that frames are comparable


def _layer_responses(units: int, inputs: int, seed: int) -> np.ndarray:
    """``w_u · x_n`` for every input n and unit u, before bias and scale: ``(inputs, units)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((inputs, _INPUT_DIMS))
    directions = rng.standard_normal((units, _INPUT_DIMS))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    lengths = np.exp(0.5 * rng.standard_normal(units))
    return x @ (directions * lengths[:, None]).T


def _apply(name: str, z: np.ndarray, negative_slope: float) -> tuple[np.ndarray, np.ndarray]:
    """The activation and its derivative at ``z``, computed by :mod:`mednotes.layers`."""
    t = torch.from_numpy(np.asarray(z, dtype=np.float64))
    if name == "relu":
        out, grad = relu(t), derivative("relu", t)
    elif name == "leaky_relu":
        out = leaky_relu(t, negative_slope)
        grad = derivative("leaky_relu", t, negative_slope=negative_slope)
    else:
        out, grad = elu(t), derivative("elu", t)
    return out.numpy(), grad.numpy()


def _summary(z: np.ndarray, name: str, negative_slope: float) -> dict:
    """What the explorer reports for pre-activations ``z`` of shape ``(inputs, units)``.

    - ``zero_outputs``: the fraction of all outputs that are exactly zero;
    - ``dead_units``: the fraction of units whose output is zero for every input of the batch;
    - ``unit_gradient``: per unit, the mean derivative over the batch (0 for a dead ReLU unit);
    - ``negative``: the fraction of pre-activations that are negative.
    """
    out, grad = _apply(name, z, negative_slope)
    zero = out == 0
    return {
        "zero_outputs": float(zero.mean()),
        "dead_units": float(zero.all(axis=0).mean()),
        "unit_gradient": grad.mean(axis=0),
        "negative": float((z < 0).mean()),
    }


def _check_settings(name: str, negative_slope: float, scale: float, units: int,
                    inputs: int) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"name must be one of {', '.join(ACTIVATIONS)}, got {name!r}")
    if not 0.0 <= float(negative_slope) <= 1.0:
        raise ValueError(f"negative_slope must be in [0, 1], got {negative_slope}")
    if not float(scale) > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    for label, value in (("units", units), ("inputs", inputs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"{label} must be an int >= 2, got {value!r}")


def _activation_figure(responses: np.ndarray, dpi: int = 100):
    """The explorer's figure; returns ``(fig, update)`` with ``update(bias, scale, name, slope)``.

    The artists are made once and changed in place by ``update``, and the layout is computed
    once: redrawing a frame then costs little more than rendering it.
    """
    units = responses.shape[1]
    fig = Figure(figsize=(11.5, 3.5), dpi=dpi, layout="constrained")
    ax_hist, ax_act, ax_units = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1, 1.1]})
    bins = np.linspace(*_Z_RANGE, 65)  # 0 is a bin edge: each bar is wholly one sign
    negative_bins = bins[1:] <= 0
    empty = np.zeros(len(bins) - 1)
    neg_bars = ax_hist.stairs(empty, bins, fill=True, color="tab:red", alpha=0.75,
                              label="z < 0")
    pos_bars = ax_hist.stairs(empty, bins, fill=True, color="tab:blue", alpha=0.75,
                              label="z ≥ 0")
    ax_hist.axvline(0, color="0.3", lw=0.8)
    ax_hist.set_xlim(*_Z_RANGE)
    ax_hist.set_xlabel("pre-activation z = w·x + b")
    ax_hist.set_ylabel("count (all units, all inputs)")
    ax_hist.legend(loc="upper left", fontsize=8)

    t = np.linspace(*_Z_RANGE, 401)
    band = ax_act.axvspan(-1.0, 1.0, color="0.85", label="95% of z")
    (f_line,) = ax_act.plot(t, t, color="tab:blue", label="f(z)")
    (df_line,) = ax_act.plot(t, t, color="tab:orange", ls="--", label="f′(z)")
    ax_act.axhline(0, color="0.3", lw=0.8)
    ax_act.set_xlim(*_Z_RANGE)
    ax_act.set_ylim(-2.0, 4.0)
    ax_act.set_xlabel("z")
    ax_act.legend(loc="upper left", fontsize=8)

    edges = np.arange(units + 1) - 0.5
    dead_band = ax_units.axvspan(-0.5, -0.5, color="tab:red", alpha=0.25, label="dead units")
    unit_bars = ax_units.stairs(np.zeros(units), edges, fill=True, color="tab:blue",
                                label="mean f′ per unit")
    ax_units.set_ylim(0, 1.1)
    ax_units.set_xlim(edges[0], edges[-1])
    ax_units.set_xlabel("unit (sorted by mean f′)")
    ax_units.set_ylabel("mean f′(z) over the batch")
    ax_units.legend(loc="upper left", fontsize=8)

    def update(bias: float, scale: float, name: str, negative_slope: float) -> dict:
        z = bias + scale * responses
        info = _summary(z, name, negative_slope)
        # Values beyond the window are clipped, so the tails pile up in the end bins.
        counts, _ = np.histogram(np.clip(z, bins[0], bins[-1]), bins=bins)
        neg_bars.set_data(np.where(negative_bins, counts, 0))
        pos_bars.set_data(np.where(negative_bins, 0, counts))
        ax_hist.set_ylim(0, nice_limit(1.1 * counts.max()))  # ticks change with the scale only
        ax_hist.set_title(f"bias {bias:+.2f}, scale {scale:.2f}: {info['negative']:.0%} negative",
                          fontsize=10)

        f, df = _apply(name, t, negative_slope)
        f_line.set_ydata(f)
        df_line.set_ydata(df)
        low, high = np.percentile(z, [2.5, 97.5])
        band.set_x(low)
        band.set_width(high - low)
        label = LABELS[name] + (f" (slope {negative_slope:g})" if name == "leaky_relu" else "")
        ax_act.set_title(f"{label} and its derivative", fontsize=10)

        gradient = np.sort(info["unit_gradient"], kind="stable")
        dead = int(round(info["dead_units"] * units))
        unit_bars.set_data(gradient)
        dead_band.set_width(dead)
        ax_units.set_title(f"zero outputs {info['zero_outputs']:.0%}, "
                           f"dead units {dead} of {units}", fontsize=10)
        return info

    update(0.0, 1.0, "relu", 0.1)
    fig.draw_without_rendering()  # lay the panels out once, for these (typical) titles
    fig.set_layout_engine("none")
    return fig, update


def activation_explorer(bias: float = 0.0, scale: float = 1.0, name: str = "relu",
                        negative_slope: float = 0.1, *, units: int = 64, inputs: int = 256,
                        seed: int = 0):
    """Sliders for a layer's bias and weight scale, and a choice of activation.

    Shows the histogram of the pre-activations ``z = w·x + b`` of a model layer (``units``
    units, a batch of ``inputs`` inputs), the activation and its derivative over that range,
    and each unit's mean derivative over the batch: a unit whose output is zero for every
    input is dead (red), and the readout counts the zero outputs and the dead units.

    Args:
        bias: the shift added to every unit's pre-activation (start value).
        scale: the factor on the weights, which sets the spread of ``z`` (start value).
        name: ``"relu"``, ``"leaky_relu"`` or ``"elu"`` (start value).
        negative_slope: leaky ReLU's slope for negative inputs, in [0, 1].
        units, inputs: size of the model layer and of the batch.
        seed: the random inputs and weights.

    Returns:
        An ``ipywidgets`` box; display it (or leave it last in a cell) to use it.

    Explained in: Building a layer: affine maps, activations and normalization.

    Example:
        >>> box = activation_explorer(bias=-3.0)
        >>> [w.description for w in box.children[:4]]
        ['bias', 'scale', 'activation', 'leaky slope']
        >>> box.children[4].value
        'zero outputs 98%, dead units 37 of 64'
    """
    import ipywidgets as widgets

    _check_settings(name, negative_slope, scale, units, inputs)
    responses = _layer_responses(units, inputs, seed)
    bias_slider = widgets.FloatSlider(value=bias, min=-5.0, max=2.0, step=0.25,
                                      description="bias", continuous_update=False)
    scale_slider = widgets.FloatSlider(value=scale, min=0.25, max=2.5, step=0.25,
                                       description="scale", continuous_update=False)
    picker = widgets.Dropdown(options=[(LABELS[a], a) for a in ACTIVATIONS], value=name,
                              description="activation")
    slope_slider = widgets.FloatSlider(value=negative_slope, min=0.0, max=0.5, step=0.01,
                                       description="leaky slope", continuous_update=False)
    readout = widgets.Label()
    picture = widgets.Image(format="png")
    # A bare Figure, not pyplot's: it reaches the page only as the PNG in the Image widget.
    fig, update = _activation_figure(responses, dpi=80)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        state = (bias_slider.value, scale_slider.value, picker.value, slope_slider.value)
        picture.value, info = frames.frame(state, lambda: update(*state))
        readout.value = (f"zero outputs {info['zero_outputs']:.0%}, dead units "
                         f"{int(round(info['dead_units'] * units))} of {units}")

    for control in (bias_slider, scale_slider, picker, slope_slider):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([bias_slider, scale_slider, picker, slope_slider, readout, picture])


def activation_animation(name: str = "relu", biases=None, scale: float = 1.0,
                         negative_slope: float = 0.1, *, units: int = 64, inputs: int = 256,
                         seed: int = 0, interval_ms: int = 400, dpi: int = 64):
    """The static twin of :func:`~mednotes.widgets.activation_explorer`: the bias swept downwards.

    Args:
        name: the activation, as in the explorer.
        biases: the bias of each frame; default 11 values from +1 down to −4, in steps of 0.5.
        scale, negative_slope, units, inputs, seed: as in the explorer.
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames (small keeps the page light).

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into a player for the page.

    Example:
        >>> anim = activation_animation(biases=[0.0, -2.0, -4.0])
        >>> anim.to_jshtml().count("frames[2]"), anim.to_jshtml().count("frames[3]")
        (1, 0)
    """
    _check_settings(name, negative_slope, scale, units, inputs)
    values = np.linspace(1.0, -4.0, 11) if biases is None else np.asarray(biases, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"biases must be a non-empty 1D sequence, got shape {values.shape}")
    fig, update = _activation_figure(_layer_responses(units, inputs, seed), dpi=dpi)

    def frame(k: int):
        update(float(values[k]), scale, name, negative_slope)
        return ()

    frame(0)
    return animation.FuncAnimation(fig, frame, frames=len(values), interval=interval_ms,
                                   blit=False)

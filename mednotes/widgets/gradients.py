"""The gradient-profile explorer: per-layer gradient norms of plain and residual networks.

A :class:`~mednotes.nets.PlainNet` of a chosen depth (8, 20 or 56 layers with weights), with or
without its identity shortcuts, with batch norm or without a norm, sees one batch of images at
initialisation. The cross-entropy of its outputs is backpropagated once, and the explorer plots
the norm of the gradient of every weight layer, from the first convolution (layer 1) to the
linear head (layer ``depth``), on a log scale. A flat profile means every layer gets a push of
the same size; a profile that spans orders of magnitude means that one learning rate is too
large for some layers and too small for others.

Every profile is computed once, when the explorer is built
(:func:`~mednotes.widgets.gradients.gradient_profiles`), so moving a control only redraws.

Explained in: Residual networks: depth, gradients and the shortcut.

Tested against: ``loss.backward()`` and each layer's ``.grad``, with the layers named by hand.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import animation
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from mednotes._checks import check_bool, check_choice, check_int, describe
from mednotes.nets import PlainNet, weight_layers
from mednotes.widgets._figure import FigureFrames, check_interval_ms

#: The depths the explorer offers: He et al.'s 6n + 2 with n = 1, 3 and 9.
DEPTHS = (8, 20, 56)
#: The norms the explorer offers: batch norm (the standard) or none.
NORMS = ("batch", None)
_COLORS = {False: "tab:red", True: "tab:blue"}  # plain, residual
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten(value: float, _position=None) -> str:
    """``1e-3`` -> ``10⁻³``: log-axis labels without mathtext, which is slow to lay out."""
    return "10" + str(int(round(np.log10(value)))).translate(_SUPERSCRIPT)


def gradient_profile(net: torch.nn.Module, images: torch.Tensor,
                     labels: torch.Tensor) -> torch.Tensor:
    """The norm of the cross-entropy's gradient for every weight layer of ``net``, in order.

    One forward and one backward pass on ``(images, labels)``, in training mode (batch norm
    uses the batch's statistics, as in the first step of training); the network's ``.grad``
    fields are left as they were.

    Args:
        net: a :class:`~mednotes.nets.PlainNet` or :class:`~mednotes.nets.ResNet`.
        images: a batch ``(N, C, H, W)``.
        labels: class indices ``(N,)``.

    Returns:
        ``(depth,)`` float64 tensor: ``‖∂L/∂W_l‖`` for the layers of :func:`~mednotes.nets.weight_layers`.

    Explained in: Residual networks: depth, gradients and the shortcut.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = PlainNet(8, base_channels=4)
        >>> g = gradient_profile(net, torch.randn(8, 1, 16, 16), torch.arange(8) % 2)
        >>> g.shape, bool((g > 0).all())
        (torch.Size([8]), True)
    """
    layers = weight_layers(net)
    images, labels = _check_batch(images, labels)
    weights = [layer.weight for layer in layers]
    was_training = net.training
    net.train()
    try:
        loss = F.cross_entropy(net(images), labels)
        grads = torch.autograd.grad(loss, weights)
    finally:
        net.train(was_training)
    return torch.stack([g.detach().double().norm() for g in grads])


def _check_batch(images, labels) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise TypeError(f"images must be a floating-point torch.Tensor, got {describe(images)}")
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got {images.dim()} dims")
    if images.shape[0] < 2:
        raise ValueError(f"images must hold at least 2 images (batch norm needs them), got "
                         f"{images.shape[0]}")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.long:
        raise TypeError(f"labels must be a torch.Tensor of class indices (int64), got "
                        f"{describe(labels)}")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"labels must have shape ({images.shape[0]},), one per image; got "
                         f"{tuple(labels.shape)}")
    if labels.min() < 0:
        raise ValueError(f"labels must be class indices >= 0, got {int(labels.min())}")
    return images, labels


def _check_depths(depths) -> tuple[int, ...]:
    if isinstance(depths, (str, bytes)) or not hasattr(depths, "__iter__"):
        raise TypeError(f"depths must be a sequence of depths such as (8, 20, 56), got "
                        f"{describe(depths)}")
    values = tuple(depths)
    if not values:
        raise ValueError("depths must name at least one depth")
    for d in values:
        d = check_int("depths", d, 8, 110)
        if (d - 2) % 6:
            raise ValueError(f"depths must be of the form 6n + 2 (8, 14, 20, ..., 56, ...), got {d}")
    return tuple(sorted({int(d) for d in values}))


def default_batch(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of H&E-like histology patches and their classes (normal, hyperplastic,
    atypical): 32×32 patches averaged down to 16×16, as in the chapter, each colour channel
    standardised over the batch.

    Example:
        >>> images, labels = default_batch(6)
        >>> images.shape, labels.tolist()
        (torch.Size([6, 3, 16, 16]), [0, 1, 2, 0, 1, 2])
    """
    from mednotes.data import histology_patches

    n = check_int("n", n, 2)
    seed = check_int("seed", seed, 0)
    dataset = histology_patches(n, size=32, seed=seed)
    images, labels = zip(*(dataset[i] for i in range(n)))
    x = F.avg_pool2d(torch.stack(images), 2)
    x = (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True)
    return x, torch.stack(labels)


def gradient_profiles(images: torch.Tensor | None = None, labels: torch.Tensor | None = None, *,
                      depths=DEPTHS, norms=NORMS, base_channels: int = 4,
                      seed: int = 0) -> dict[tuple, np.ndarray]:
    """:func:`gradient_profile` at initialisation for every depth, shortcut setting and norm.

    Under one ``seed``, the plain and the residual network of a depth start from the same
    weights in every layer they share (see :class:`~mednotes.nets.PlainNet`).

    Args:
        images, labels: the batch (default: ``default_batch()``, 32 histology patches of
            16×16 pixels).
        depths: depths ``6n + 2`` to build.
        norms: any of ``"batch"`` and ``None``.
        base_channels: width of the first stage.
        seed: ``torch.manual_seed`` before each network is built.

    Returns:
        ``{(depth, residual, norm): profile}``, each profile a float64 array of ``depth``
        gradient norms.

    Example:
        >>> p = gradient_profiles(*default_batch(8), depths=(8,), norms=("batch",))
        >>> sorted(p), p[8, True, "batch"].shape
        ([(8, False, 'batch'), (8, True, 'batch')], (8,))
    """
    if images is None and labels is None:
        images, labels = default_batch()
    images, labels = _check_batch(images, labels)
    depths = _check_depths(depths)
    norms = tuple(norms) if isinstance(norms, (tuple, list)) else norms
    if not isinstance(norms, tuple) or not norms:
        raise TypeError(f"norms must be a tuple of norms, such as ('batch', None); got "
                        f"{describe(norms)}")
    for norm in norms:
        check_choice("norms", norm, NORMS)
    base_channels = check_int("base_channels", base_channels, 1, 64)
    seed = check_int("seed", seed, 0)
    classes = int(labels.max()) + 1
    result = {}
    for depth in depths:
        for norm in norms:
            for residual in (False, True):
                torch.manual_seed(seed)
                net = PlainNet(depth, images.shape[1], max(2, classes), base_channels,
                               residual=residual, norm=norm)
                result[depth, residual, norm] = gradient_profile(net, images, labels).numpy()
    return result


def _check_profiles(profiles) -> dict[tuple, np.ndarray]:
    if not isinstance(profiles, dict) or not profiles:
        raise TypeError(f"profiles must be the dict that gradient_profiles() returns, got "
                        f"{describe(profiles)}")
    for key, values in profiles.items():
        if (not isinstance(key, tuple) or len(key) != 3
                or not isinstance(values, np.ndarray) or values.shape != (key[0],)):
            raise ValueError(f"profiles must map (depth, residual, norm) to depth gradient "
                             f"norms, as gradient_profiles() returns; got key {key!r}")
        if not np.isfinite(values).all():
            raise ValueError(f"profile {key!r} holds values that are not finite")
    return profiles


def spread(profile) -> float:
    """How many orders of magnitude a profile spans: ``log10(max / min)``.

    Example:
        >>> spread(np.array([0.01, 1.0, 0.1]))
        2.0
    """
    values = np.asarray(profile, dtype=float)
    return float(np.log10(values.max() / values.min()))


def _profile_figure(profiles: dict, dpi: int = 80):
    """Every profile in faint grey, the selected one and its counterpart in colour."""
    fig = Figure(figsize=(8.0, 3.8), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    lows = [v.min() for v in profiles.values()]
    highs = [v.max() for v in profiles.values()]
    top = max(d for d, _, _ in profiles)
    for (depth, _, _), values in profiles.items():
        ax.semilogy(np.arange(1, depth + 1), values, color="0.85", lw=0.8, zorder=1)
    (shown,) = ax.semilogy([], [], lw=2.2, marker="o", ms=3, zorder=3)
    (other,) = ax.semilogy([], [], lw=1.2, ls="--", zorder=2)
    ax.set_xlim(0.5, top + 0.5)
    ax.set_ylim(0.5 * min(lows), 2 * max(highs))
    ax.set_xlabel("weight layer (1 = first convolution, last = linear head)")
    ax.set_ylabel("gradient norm ‖∂L/∂W‖ (log scale)")
    ax.grid(True, which="major", alpha=0.3)
    # a redraw must stay quick: no minor ticks, and labels as plain text, not mathtext
    ax.yaxis.set_major_locator(LogLocator(base=10.0, numticks=8))
    ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    ax.yaxis.set_minor_locator(NullLocator())
    shown.set_label("selected network")
    other.set_label("counterpart")
    legend = ax.legend(loc="upper right", fontsize=9)
    shown_text, other_text = legend.get_texts()

    def update(depth: int, residual: bool, norm) -> float:
        values = profiles[depth, residual, norm]
        layers = np.arange(1, depth + 1)
        shown.set_data(layers, values)
        shown.set_color(_COLORS[residual])
        kind = "residual" if residual else "plain"
        shown.set_label(f"{kind}, {depth} layers")
        shown_text.set_text(shown.get_label())
        legend.legend_handles[0].set_color(_COLORS[residual])
        twin = profiles.get((depth, not residual, norm))
        if twin is None:
            other.set_data([], [])
            other_text.set_text("")
        else:
            other.set_data(layers, twin)
            other.set_color(_COLORS[not residual])
            other_text.set_text(f"{'plain' if residual else 'residual'} (same start)")
            legend.legend_handles[1].set_color(_COLORS[not residual])
        width = spread(values)
        ax.set_title(f"{kind} network, {depth} layers, "
                     f"{'batch norm' if norm == 'batch' else 'no norm'}: the profile spans "
                     f"{width:.1f} orders of magnitude", fontsize=10)
        return width

    first = next(iter(profiles))
    update(*first)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig, update


def _options(profiles: dict) -> tuple[tuple[int, ...], tuple]:
    depths = tuple(sorted({d for d, _, _ in profiles}))
    norms = tuple(n for n in NORMS if any(k[2] == n for k in profiles))
    return depths, norms


def _readout(profiles, depth, residual, norm) -> str:
    values = profiles[depth, residual, norm]
    return (f"first layer {values[0]:.2e} · last conv {values[-2]:.2e} · head {values[-1]:.2e} · "
            f"max/min {values.max() / values.min():.0f}×")


def gradient_profile_explorer(profiles: dict | None = None, *, depth: int = 56,
                              residual: bool = False):
    """A depth slider and shortcut/norm toggles over the per-layer gradient-norm profiles.

    The plot shows the selected network's profile (log scale) with its counterpart, the
    same depth with the shortcuts switched the other way, dashed; every other precomputed
    profile is in light grey, so the scale stays fixed while you move the controls.

    Args:
        profiles: from :func:`~mednotes.widgets.gradients.gradient_profiles`
            (default: computed on 32 histology patches of 16×16 pixels, depths 8, 20 and 56, with batch norm and without a norm).
        depth: the depth shown first.
        residual: whether the shortcuts are on at first.

    Returns:
        An ``ipywidgets`` box; leave it last in a cell to use it.

    Explained in: Residual networks: depth, gradients and the shortcut.

    Example:
        >>> p = gradient_profiles(*default_batch(8), depths=(8, 20))
        >>> box = gradient_profile_explorer(p, depth=20)
        >>> [w.description for w in box.children[:3]]
        ['depth', 'shortcuts', 'batch norm']
    """
    import ipywidgets as widgets

    profiles = gradient_profiles() if profiles is None else _check_profiles(profiles)
    depths, norms = _options(profiles)
    depth = check_choice("depth", depth, depths)
    residual = check_bool("residual", residual)
    depth_slider = widgets.SelectionSlider(options=list(depths), value=depth, description="depth",
                                           continuous_update=False)
    shortcuts = widgets.Checkbox(value=residual, description="shortcuts")
    batch_norm = widgets.Checkbox(value=norms[0] == "batch", description="batch norm",
                                  disabled=len(norms) < 2)
    readout = widgets.Label()
    picture = widgets.Image(format="png")
    fig, update = _profile_figure(profiles, dpi=72)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        state = (depth_slider.value, shortcuts.value, "batch" if batch_norm.value else None)
        picture.value, _ = frames.frame(state, lambda: update(*state))
        readout.value = _readout(profiles, *state)

    for control in (depth_slider, shortcuts, batch_norm):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([depth_slider, shortcuts, batch_norm, readout, picture])


def gradient_profile_animation(profiles: dict | None = None, *, norm="batch",
                               interval_ms: int = 1200, dpi: int = 64):
    """The static twin of :func:`gradient_profile_explorer`: each depth, plain then residual.

    Args:
        profiles: from :func:`~mednotes.widgets.gradients.gradient_profiles`
            (default: computed as for the explorer).
        norm: which norm's profiles to show, ``"batch"`` or None.
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Example:
        >>> p = gradient_profiles(*default_batch(8), depths=(8, 20), norms=("batch",))
        >>> html = gradient_profile_animation(p).to_jshtml()
        >>> html.count("frames[3]"), html.count("frames[4]")
        (1, 0)
    """
    profiles = gradient_profiles() if profiles is None else _check_profiles(profiles)
    check_choice("norm", norm, NORMS)
    check_interval_ms(interval_ms)
    steps = [(d, r, n) for (d, r, n) in sorted(profiles, key=lambda k: (k[0], k[1]))
             if n == norm]
    if not steps:
        raise ValueError(f"profiles hold no profile with norm={norm!r}")
    fig, update = _profile_figure(profiles, dpi=dpi)

    def frame(k: int):
        update(*steps[k])
        return ()

    frame(0)
    return animation.FuncAnimation(fig, frame, frames=len(steps), interval=interval_ms,
                                   blit=False)


__all__ = ["DEPTHS", "NORMS", "default_batch", "gradient_profile", "gradient_profile_animation",
           "gradient_profile_explorer", "gradient_profiles", "spread"]

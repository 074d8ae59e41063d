"""The batch-size explorer: how noisy batch statistics are, and what that costs batch norm.

Batches of a chosen size are drawn from a pool of feature maps (in the chapter, a ``Conv3d``'s
outputs on random 3-D patches of a brain). For each size the explorer shows

- the spread of every batch's per-channel mean and variance around the pool's own (the
  *population* statistics), in units of the population's standard deviation and variance;
- the *train/eval gap* of three normalisations: how far the output in training mode is from
  the output in evaluation mode on the same batch, as ``mean |y_train - y_eval| / mean
  |y_eval|``. Batch norm's evaluation mode uses running statistics, gathered here over
  ``warmup`` earlier batches of the same size, so its gap grows as batches shrink; group and
  instance norm use each image's own statistics in both modes, and their gap is zero.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from matplotlib import animation
from matplotlib.figure import Figure

from mednotes.layers import (
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm2d,
    InstanceNorm3d,
)
from mednotes.widgets._figure import FigureFrames, _one_torch_thread, nice_limit

#: The normalisations the explorer compares, in the order of its bars.
_LAYER_NAMES = ("BatchNorm", "GroupNorm", "InstanceNorm")
_BATCH = {2: BatchNorm2d, 3: BatchNorm3d}
_INSTANCE = {2: InstanceNorm2d, 3: InstanceNorm3d}
_MEAN_BINS = np.linspace(-2.0, 2.0, 41)
_VAR_BINS = np.linspace(0.0, 3.0, 31)


def _check_features(features, groups: int) -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
    if features.dim() not in (4, 5):
        raise ValueError(
            f"features must be (N, C, H, W) or (N, C, D, H, W) feature maps, got "
            f"{features.dim()} dims"
        )
    if not features.is_floating_point():
        raise TypeError(f"features must be floating point, got {features.dtype}")
    if features.shape[0] < 2:
        raise ValueError(f"features must hold a pool of at least 2 images, got {features.shape[0]}")
    channels = features.shape[1]
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if channels % groups:
        raise ValueError(f"groups={groups} must divide the {channels} channels of features")
    if features[0, 0].numel() < 2:
        raise ValueError("features need at least 2 positions per channel: instance statistics "
                         "are taken over the positions of one image")
    return features.detach()


def _check_sizes(batch_sizes, pool: int) -> tuple[int, ...]:
    sizes = tuple(batch_sizes)
    if not sizes:
        raise ValueError("batch_sizes must name at least one batch size")
    for b in sizes:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= pool:
            raise ValueError(f"batch sizes must be ints from 1 to the pool size {pool}, got {b!r}")
    return tuple(int(b) for b in sizes)


def _batch_indices(pool: int, batch_size: int, count: int, seed: int) -> torch.Tensor:
    """``count`` batches of ``batch_size`` distinct images out of ``pool``: ``(count, batch_size)``.

    Each batch size has its own reproducible stream, so the explorer shows the same batches
    whichever order the slider visits the sizes in.
    """
    generator = torch.Generator().manual_seed(seed * 1009 + batch_size)
    return torch.stack([torch.randperm(pool, generator=generator)[:batch_size]
                        for _ in range(count)])


def _image_sums(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per image and channel, the sum of the values and of their squares (float64), and the
    number of positions they were taken over: every batch's statistics follow from them."""
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    squares = torch.stack([(image.double() ** 2).sum(-1) for image in flat])
    return flat.sum(-1, dtype=torch.float64), squares, flat.shape[-1]


_SUMS: OrderedDict = OrderedDict()  # the last pools' sums, shared by explorer and twin


def _pool_sums(features: torch.Tensor):
    """:func:`_image_sums` of a pool, computed once for the explorer and its twin alike.

    Kept for the last two pools, by where their values lie in memory (a reference is kept
    too, so no other tensor can take their place) and their version (which an in-place
    change bumps).
    """
    key = (features.data_ptr(), tuple(features.shape), features.stride(), features.dtype)
    kept = _SUMS.get(key)
    if kept is not None and kept[1] == features._version:
        return kept[2]
    _SUMS[key] = (features, features._version, _image_sums(features))
    while len(_SUMS) > 2:
        _SUMS.popitem(last=False)
    return _SUMS[key][2]


def _batch_moments(sums, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (biased) variance per batch and channel, ``(batches, C)`` float64, of the
    batches given as rows of indices into the pool."""
    first, second, positions = sums
    count = rows.shape[1] * positions
    mean = first[rows].sum(1) / count
    return mean, (second[rows].sum(1) / count - mean ** 2).clamp(min=0.0)


def _mean_abs(features: torch.Tensor, rows: torch.Tensor, *maps) -> list[torch.Tensor]:
    """For each ``(scale, shift)`` in ``maps`` (one value per batch and channel), the mean of
    ``|scale * x + shift|`` over each batch ``x``: one ``(batches,)`` float64 tensor per map."""
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    per_batch = rows.shape[1] * flat[0].numel()
    out = torch.empty(len(maps), len(rows), dtype=torch.float64)
    batch = torch.empty((rows.shape[1], *flat.shape[1:]), dtype=features.dtype)
    work = torch.empty_like(batch)
    for k, row in enumerate(rows):
        torch.index_select(flat, 0, row, out=batch)  # (B, C, positions)
        for m, (scale, shift) in enumerate(maps):
            torch.addcmul(shift[k, :, None].to(batch.dtype), batch,
                          scale[k, :, None].to(batch.dtype), out=work)
            out[m, k] = float(torch.linalg.vector_norm(work, 1))  # the sum of |values|
    return list(out / per_batch)


def _statistics(features: torch.Tensor, warmup: torch.Tensor, measured: torch.Tensor,
                groups: int, sums=None) -> dict:
    """Batch statistics and train/eval gaps for batches given as rows of indices into the pool.

    Means and variances come from per-image sums (``sums``, from :func:`_image_sums` when not
    given), so that every batch costs a few additions. Batch norm's two outputs for a batch
    are both per-channel affine maps of its input, ``y_train = a x + b`` with the batch's
    statistics and ``y_eval = a' x + b'`` with the running ones (gathered over ``warmup``
    batches as the layer gathers them, momentum and unbiased variance included), so the gap
    ``mean |y_train - y_eval| / mean |y_eval|`` takes two passes over the batch. Group and
    instance norm without running statistics compute the same thing in both modes: their
    gap is 0.
    """
    spatial = features.dim() - 2
    channels = features.shape[1]
    sums = _image_sums(features) if sums is None else sums
    every = torch.arange(features.shape[0])[None]
    population_mean, population_var = (m[0] for m in _batch_moments(sums, every))
    means, variances = _batch_moments(sums, measured)
    standardized = (means - population_mean) / population_var.sqrt()
    ratio = variances / population_var

    bn = _BATCH[spatial](channels)
    momentum = bn.momentum
    running_mean = bn.running_mean.double().clone()
    running_var = bn.running_var.double().clone()
    count = warmup.shape[1] * sums[2]
    for mean, var in zip(*_batch_moments(sums, warmup)):  # as the layer does in training
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * count / (count - 1)
    weight, bias = bn.weight.detach().double(), bn.bias.detach().double()
    train_scale = weight / torch.sqrt(variances + bn.eps)              # (batches, C)
    train_shift = bias - means * train_scale
    eval_scale = (weight / torch.sqrt(running_var + bn.eps)).expand_as(train_scale)
    eval_shift = (bias - running_mean * eval_scale[0]).expand_as(train_shift)
    with torch.no_grad():
        difference, size = _mean_abs(features, measured,
                                     (train_scale - eval_scale, train_shift - eval_shift),
                                     (eval_scale, eval_shift))
    gaps = {"BatchNorm": float((difference / size).mean())}
    for name, module in (("GroupNorm", GroupNorm(groups, channels)),
                         ("InstanceNorm", _INSTANCE[spatial](channels))):
        if getattr(module, "running_mean", None) is not None:  # not the case here
            raise RuntimeError(f"{name} keeps running statistics: its gap is not 0")
        gaps[name] = 0.0
    dtype = features.dtype
    return {
        "population_mean": population_mean.to(dtype),
        "population_var": population_var.to(dtype),
        "means": means.to(dtype),
        "variances": variances.to(dtype),
        "mean_spread": float(standardized.pow(2).mean().sqrt()),
        "var_spread": float((ratio - 1).pow(2).mean().sqrt()),
        "standardized_means": standardized.to(dtype),
        "variance_ratios": ratio.to(dtype),
        "gap": gaps,
    }


def _measure(features: torch.Tensor, batch_size: int, groups: int, batches: int, warmup: int,
             seed: int, sums=None) -> dict:
    pool = features.shape[0]
    indices = _batch_indices(pool, batch_size, warmup + batches, seed)
    return _statistics(features, indices[:warmup], indices[warmup:], groups, sums)


def _readout(batch_size: int, info: dict) -> str:
    gap = info["gap"]
    return (f"batch size {batch_size}: batch means ±{info['mean_spread']:.2f} σ, batch variances "
            f"±{info['var_spread']:.0%}; train/eval gap BatchNorm {gap['BatchNorm']:.1%}, "
            f"GroupNorm {gap['GroupNorm']:.1%}, InstanceNorm {gap['InstanceNorm']:.1%}")


def _normalization_figure(dpi: int = 100):
    """The explorer's figure; returns ``(fig, update)`` with ``update(batch_size, info)``."""
    fig = Figure(figsize=(11.5, 3.5), dpi=dpi, layout="constrained")
    ax_mean, ax_var, ax_gap = fig.subplots(1, 3)
    mean_bars = ax_mean.stairs(np.zeros(len(_MEAN_BINS) - 1), _MEAN_BINS, fill=True,
                               color="tab:blue", alpha=0.8)
    ax_mean.axvline(0, color="0.2", lw=1, ls="--", label="population")
    ax_mean.set_xlim(_MEAN_BINS[0], _MEAN_BINS[-1])
    ax_mean.set_xlabel("(batch mean − population mean) / population std")
    ax_mean.set_ylabel("fraction of (batch, channel) pairs", fontsize=9)
    ax_mean.legend(loc="upper left", fontsize=8)
    var_bars = ax_var.stairs(np.zeros(len(_VAR_BINS) - 1), _VAR_BINS, fill=True,
                             color="tab:green", alpha=0.8)
    ax_var.axvline(1, color="0.2", lw=1, ls="--", label="population")
    ax_var.set_xlim(_VAR_BINS[0], _VAR_BINS[-1])
    ax_var.set_xlabel("batch variance / population variance")
    ax_var.legend(loc="upper right", fontsize=8)
    colours = ("tab:red", "tab:purple", "tab:gray")
    gap_bars = ax_gap.bar(range(len(_LAYER_NAMES)), [0.0] * len(_LAYER_NAMES), color=colours)
    labels = [ax_gap.text(i, 0.0, "", ha="center", va="bottom", fontsize=9)
              for i in range(len(_LAYER_NAMES))]
    ax_gap.set_xticks(range(len(_LAYER_NAMES)), _LAYER_NAMES)
    ax_gap.set_ylabel("mean |y_train − y_eval| / mean |y_eval|", fontsize=9)

    def update(batch_size: int, info: dict) -> None:
        mean_counts, _ = np.histogram(info["standardized_means"].numpy().clip(-2, 2), _MEAN_BINS)
        var_counts, _ = np.histogram(info["variance_ratios"].numpy().clip(0, 3), _VAR_BINS)
        total = max(info["means"].numel(), 1)
        mean_bars.set_data(mean_counts / total)
        var_bars.set_data(var_counts / total)
        # limits from a coarse ladder: the ticks change with the scale only
        ax_mean.set_ylim(0, nice_limit(1.15 * max(mean_counts.max() / total, 0.05)))
        ax_var.set_ylim(0, nice_limit(1.15 * max(var_counts.max() / total, 0.05)))
        ax_mean.set_title(f"batch size {batch_size}: batch means ±{info['mean_spread']:.2f} σ",
                          fontsize=10)
        ax_var.set_title(f"batch variances ±{info['var_spread']:.0%}", fontsize=10)
        values = [info["gap"][name] for name in _LAYER_NAMES]
        top = max(0.6, nice_limit(1.2 * max(max(values), 1e-12)))
        for bar, text, value in zip(gap_bars, labels, values):
            bar.set_height(value)
            text.set_position((bar.get_x() + bar.get_width() / 2, value + 0.01 * top))
            text.set_text(f"{value:.1%}")
        ax_gap.set_ylim(0, top)
        ax_gap.set_title(f"train/eval gap at batch size {batch_size}", fontsize=10)

    return fig, update


def _fix_layout(fig: Figure) -> None:
    fig.draw_without_rendering()  # lay the panels out once; later frames reuse the positions
    fig.set_layout_engine("none")


def batch_size_explorer(features, batch_sizes=(1, 2, 4, 8, 16, 32), *, groups: int = 4,
                        batches: int = 40, warmup: int = 30, seed: int = 0):
    """A batch-size slider over normalisation statistics: their noise, and batch norm's gap.

    For the chosen batch size, ``batches`` batches are drawn from the pool ``features``; the
    figure shows how far their per-channel means and variances fall from the pool's, and the
    train/eval gap of batch norm (running statistics gathered over ``warmup`` batches of that
    size), group norm (``groups`` groups) and instance norm.

    Args:
        features: a pool of feature maps, ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
        batch_sizes: the sizes the slider offers, each from 1 to N.
        groups: group norm's number of groups; must divide C.
        batches: batches measured per size.
        warmup: batches that set batch norm's running statistics first.
        seed: the draw of the batches.

    Returns:
        An ``ipywidgets`` box; display it (or leave it last in a cell) to use it.

    Explained in: Building a layer: affine maps, activations and normalization.

    Example:
        >>> features = torch.randn(40, 4, 6, 6, 6) * torch.rand(40, 1, 1, 1, 1)
        >>> box = batch_size_explorer(features, (1, 8), batches=10, warmup=10)
        >>> box.children[0].description, box.children[0].options
        ('batch size', (1, 8))
        >>> "GroupNorm 0.0%" in box.children[1].value
        True
    """
    import ipywidgets as widgets

    features = _check_features(features, groups)
    sizes = _check_sizes(batch_sizes, features.shape[0])
    slider = widgets.SelectionSlider(options=sizes, value=sizes[0], description="batch size",
                                     continuous_update=False)
    readout = widgets.Label()
    picture = widgets.Image(format="png")
    # A bare Figure, not pyplot's: it reaches the page only as the PNG in the Image widget.
    fig, update = _normalization_figure(dpi=80)
    # Every size measured now (a fraction of a second from the pool's per-image sums), so
    # that moving the slider only draws.
    with _one_torch_thread():  # small tensor operations: faster on one thread
        sums = _pool_sums(features)
        measured = {size: _measure(features, size, groups, batches, warmup, seed, sums)
                    for size in sizes}

    def redraw(*_):
        size = slider.value
        picture.value, _ = frames.frame(size, lambda: update(size, measured[size]))
        readout.value = _readout(size, measured[size])

    slider.observe(redraw, names="value")
    update(sizes[0], measured[sizes[0]])
    _fix_layout(fig)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown
    redraw()
    return widgets.VBox([slider, readout, picture])


def batch_size_animation(features, batch_sizes=(1, 2, 3, 4, 6, 8, 12, 16), *,
                         groups: int = 4, batches: int = 40, warmup: int = 30, seed: int = 0,
                         interval_ms: int = 700, dpi: int = 64):
    """The static twin of :func:`~mednotes.widgets.batch_size_explorer`: batch size swept upwards.

    Args:
        features, groups, batches, warmup, seed: as in the explorer.
        batch_sizes: one frame per batch size.
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames (small keeps the page light).

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into a player for the page.

    Example:
        >>> anim = batch_size_animation(torch.randn(16, 4, 5, 5), (1, 4, 16), batches=5, warmup=5)
        >>> html = anim.to_jshtml()
        >>> html.count("frames[2]"), html.count("frames[3]")
        (1, 0)
    """
    features = _check_features(features, groups)
    sizes = _check_sizes(batch_sizes, features.shape[0])
    with _one_torch_thread():  # small tensor operations: faster on one thread
        sums = _pool_sums(features)
        results = [_measure(features, b, groups, batches, warmup, seed, sums) for b in sizes]
    fig, update = _normalization_figure(dpi=dpi)

    def frame(k: int):
        update(sizes[k], results[k])
        return ()

    frame(0)
    _fix_layout(fig)
    return animation.FuncAnimation(fig, frame, frames=len(sizes), interval=interval_ms,
                                   blit=False)

"""The learning-rate schedule explorer: a schedule and a peak rate, the rate they give at every
step, and what training runs made with them did.

:func:`~mednotes.train.fit` multiplies its ``lr`` (the peak) by
:func:`~mednotes.train.schedule.lr_factor` at every step: ``"constant"``, ``"cosine"`` (half a
cosine down to 0) or ``"onecycle"`` (a linear warm-up, then the cosine). The explorer takes
runs trained beforehand, one list of :class:`~mednotes.train.History` per (schedule, peak
rate), one history per seed, and shows three panels: the rate step by step, the training
loss and the validation metric epoch by epoch. The selected runs are in colour (each seed
thin, their mean thick); every other run is in light grey, so the scale stays put while
you move the controls.

Training is what costs: :func:`~mednotes.widgets.schedules.schedule_runs` does it once,
with :func:`~mednotes.train.fit`, and moving a control only redraws.

Explained in: Training a segmentation network.

Tested against: ``torch.optim.lr_scheduler.CosineAnnealingLR`` (cosine), a hand-written
one-cycle formula, and the ``lr`` column that fit itself records at the end of each epoch.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib import animation
from matplotlib.figure import Figure

from mednotes._checks import check_choice, check_int, check_number, describe
from mednotes.train.history import History
from mednotes.train.schedule import SCHEDULES, lr_factor
from mednotes.widgets._figure import FigureFrames, check_interval_ms

_COLORS = {"constant": "tab:blue", "cosine": "tab:orange", "onecycle": "tab:green"}


def lr_curve(schedule: str, peak: float, steps: int) -> np.ndarray:
    """The learning rate at each of ``steps`` steps: ``peak * lr_factor(schedule, step, steps)``.

    Args:
        schedule: ``"constant"``, ``"cosine"`` or ``"onecycle"``.
        peak: the peak rate, fit's ``lr``, > 0.
        steps: steps in the whole run (epochs × batches per epoch), >= 1.

    Returns:
        ``(steps,)`` float64 array.

    Explained in: Training a segmentation network.

    Example:
        >>> lr_curve("cosine", 0.1, 4).round(4).tolist()
        [0.1, 0.0854, 0.05, 0.0146]
    """
    schedule = check_choice("schedule", schedule, SCHEDULES)
    peak = check_number("peak", peak, 0, open_low=True)
    steps = check_int("steps", steps, 1)
    return np.array([peak * lr_factor(schedule, i, steps) for i in range(steps)])


def schedule_runs(make_model: Callable, loss_fn: Callable, train_data, val_data, *,
                  schedules: Sequence[str] = SCHEDULES, lrs: Sequence[float] = (1e-3, 1e-2),
                  seeds: Sequence[int] = (0,), epochs: int = 5, batch_size: int = 8,
                  metrics: Mapping[str, Callable] | None = None,
                  **fit_kwargs) -> dict[tuple[str, float], list[History]]:
    """Train one model per (schedule, peak rate, seed) with :func:`~mednotes.train.fit`.

    Every run of a seed starts from the same weights (``make_model()`` after
    :func:`mednotes.seed_everything` with that seed) and sees the same batches.

    Args:
        make_model: builds a fresh network, e.g. ``lambda: UNet(1, 2, base_channels=4)``.
        loss_fn, train_data, val_data, batch_size, metrics: passed to fit.
        schedules: any of ``"constant"``, ``"cosine"``, ``"onecycle"``.
        lrs: the peak rates, each > 0.
        seeds: one run per seed and setting.
        epochs: epochs per run.
        **fit_kwargs: more of fit's keywords (``device``, ``optimizer``, ...); ``progress``
            is False unless given.

    Returns:
        ``{(schedule, lr): [History of seed 0, ...]}``, in the order of ``schedules``, then
        ``lrs``.

    Explained in: Training a segmentation network.

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> x = torch.randn(16, 2); data = TensorDataset(x, x.sum(1, keepdim=True))
        >>> runs = schedule_runs(lambda: torch.nn.Linear(2, 1), torch.nn.MSELoss(), data, data,
        ...                      schedules=("cosine",), lrs=(0.1,), epochs=2, batch_size=8,
        ...                      device="cpu")
        >>> list(runs), len(runs["cosine", 0.1][0])
        ([('cosine', 0.1)], 2)
    """
    from mednotes import seed_everything
    from mednotes.train import fit

    if not callable(make_model) or isinstance(make_model, torch.nn.Module):
        raise TypeError(f"make_model must be a function that builds a fresh network (each "
                        f"run needs its own), got {describe(make_model)}")
    schedules = _sequence("schedules", schedules)
    for schedule in schedules:
        check_choice("schedules", schedule, SCHEDULES)
    lrs = tuple(check_number("lrs", lr, 0, open_low=True) for lr in _sequence("lrs", lrs))
    seeds = tuple(check_int("seeds", seed, 0, 2**32 - 1) for seed in _sequence("seeds", seeds))
    fit_kwargs.setdefault("progress", False)
    runs: dict[tuple[str, float], list[History]] = {}
    for schedule in schedules:
        for lr in lrs:
            runs[schedule, lr] = []
            for seed in seeds:
                seed_everything(seed)
                model = make_model()
                runs[schedule, lr].append(fit(
                    model, loss_fn, train_data, val_data, epochs=epochs, lr=lr,
                    batch_size=batch_size, metrics=metrics, schedule=schedule, seed=seed,
                    **fit_kwargs))
    return runs


def _sequence(name: str, values) -> tuple:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty list or tuple, got {describe(values)}")
    return tuple(values)


def _check_runs(runs, steps_per_epoch: int, metric: str) -> dict[tuple[str, float], list]:
    """``runs`` as schedule_runs returns them, each history's lr column matching its key."""
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError(f"runs must be the dict that schedule_runs() returns, got "
                        f"{describe(runs)}")
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, 1)
    for key, histories in runs.items():
        if (not isinstance(key, tuple) or len(key) != 2 or key[0] not in SCHEDULES
                or isinstance(key[1], bool) or not isinstance(key[1], numbers.Real)):
            raise ValueError(f"runs must map (schedule, peak lr) to a list of Histories, as "
                             f"schedule_runs() returns; got key {key!r}")
        if (not isinstance(histories, (list, tuple)) or not histories
                or not all(isinstance(h, History) for h in histories)):
            raise ValueError(f"runs[{key!r}] must be a non-empty list of History, got "
                             f"{describe(histories)}")
        lengths = {len(h) for h in histories}
        if len(lengths) > 1:
            raise ValueError(f"runs[{key!r}]: the seeds' histories have different lengths "
                             f"{sorted(lengths)}")
        for h in histories:
            for column in ("train_loss", metric, "lr"):
                if column not in h.keys():
                    raise ValueError(f"runs[{key!r}] has no column {column!r}; it has "
                                     f"{h.keys()}")
            # fit records the rate of the last step of each epoch: it names the schedule.
            curve = lr_curve(key[0], key[1], len(h) * steps_per_epoch)
            expected = curve[steps_per_epoch - 1::steps_per_epoch]
            if not np.allclose(h["lr"], expected, rtol=1e-6, atol=0.0):
                raise ValueError(f"runs[{key!r}]: its lr column does not follow the "
                                 f"{key[0]!r} schedule with peak {key[1]:g} at "
                                 f"{steps_per_epoch} steps per epoch; check steps_per_epoch "
                                 "and the keys")
    return dict(runs)


def _summary(histories: list[History], metric: str) -> tuple[float, float]:
    """Mean and sd (over seeds) of the best validation ``metric`` of each run."""
    best = [max((v for v in h[metric] if not math.isnan(v)), default=math.nan)
            for h in histories]
    sd = float(np.std(best, ddof=1)) if len(best) > 1 else math.nan
    return float(np.mean(best)), sd


def _readout(runs, key, metric: str) -> str:
    mean, sd = _summary(runs[key], metric)
    seeds = len(runs[key])
    spread = f" ± {sd:.3f} (sd)" if seeds > 1 else ""
    final = np.mean([h["train_loss"][-1] for h in runs[key]])
    return (f"{key[0]}, peak lr {key[1]:g}: best validation {metric} {mean:.3f}{spread} over "
            f"{seeds} seed{'s' * (seeds > 1)} · last training loss {final:.3f}")


def _schedule_figure(runs: dict, steps_per_epoch: int, metric: str, dpi: int = 80):
    """Three panels; every run faint grey, the selected runs in colour."""
    fig = Figure(figsize=(11.0, 3.4), dpi=dpi, layout="constrained")
    ax_lr, ax_loss, ax_metric = fig.subplots(1, 3)
    peaks = [key[1] for key in runs]
    for (schedule, peak), histories in runs.items():
        epochs = len(histories[0])
        x = np.arange(1, epochs * steps_per_epoch + 1) / steps_per_epoch
        ax_lr.plot(x, lr_curve(schedule, peak, epochs * steps_per_epoch), color="0.85", lw=0.8)
        for h in histories:
            ax_loss.plot(h["epoch"], h["train_loss"], color="0.85", lw=0.8)
            ax_metric.plot(h["epoch"], h[metric], color="0.85", lw=0.8)
    (lr_line,) = ax_lr.plot([], [], lw=2.2)
    most = max(len(h) for histories in runs.values() for h in histories)
    seed_lines = {ax: [ax.plot([], [], lw=0.9, alpha=0.6)[0] for _ in range(
        max(len(v) for v in runs.values()))] for ax in (ax_loss, ax_metric)}
    mean_lines = {ax: ax.plot([], [], lw=2.2, marker="o", ms=3)[0] for ax in (ax_loss, ax_metric)}
    ax_lr.set(xlabel="epoch", ylabel="learning rate (log scale)", yscale="log",
              ylim=(0.02 * min(peaks), 2 * max(peaks)), title="Learning rate, step by step")
    ax_loss.set(xlabel="epoch", ylabel="training loss (epoch mean)", yscale="log",
                title="Training loss")
    ax_metric.set(xlabel="epoch", ylabel=f"validation {metric}", title=f"Validation {metric}")
    for ax in (ax_lr, ax_loss, ax_metric):
        ax.set_xlim(0, most + 0.5)
        ax.grid(alpha=0.3)

    def update(schedule: str, peak: float) -> tuple[float, float]:
        histories = runs[schedule, peak]
        color = _COLORS[schedule]
        epochs = len(histories[0])
        x = np.arange(1, epochs * steps_per_epoch + 1) / steps_per_epoch
        lr_line.set_data(x, lr_curve(schedule, peak, epochs * steps_per_epoch))
        lr_line.set_color(color)
        for ax, column in ((ax_loss, "train_loss"), (ax_metric, metric)):
            for line, h in zip(seed_lines[ax], [*histories, *[None] * len(seed_lines[ax])]):
                line.set_data(([], []) if h is None else (h["epoch"], h[column]))
                line.set_color(color)
            with warnings.catch_warnings():  # an epoch where every seed's metric is NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean([h[column] for h in histories], axis=0)
            mean_lines[ax].set_data(histories[0]["epoch"], mean)
            mean_lines[ax].set_color(color)
        mean, sd = _summary(histories, metric)
        spread = f" ± {sd:.3f}" if len(histories) > 1 else ""
        fig.suptitle(f"{schedule}, peak lr {peak:g}: best validation {metric} {mean:.3f}"
                     f"{spread} ({len(histories)} seed{'s' * (len(histories) > 1)}; thin: "
                     "each seed, thick: their mean; grey: the other settings)", fontsize=10)
        return mean, sd

    update(*next(iter(runs)))
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig, update


def schedule_explorer(runs: dict, steps_per_epoch: int, *, metric: str = "dice",
                      schedule: str | None = None, lr: float | None = None):
    """Schedule buttons and a peak-rate slider over runs trained beforehand.

    Args:
        runs: from :func:`~mednotes.widgets.schedules.schedule_runs`:
            ``{(schedule, peak lr): [History, ...]}``.
        steps_per_epoch: optimizer steps in one epoch of those runs (to draw the rate
            step by step; checked against each history's ``lr`` column).
        metric: the validation column to plot, e.g. ``"dice"``.
        schedule, lr: the setting shown first (default: the first key of ``runs``).

    Returns:
        An ``ipywidgets`` box; leave it last in a cell to use it.

    Explained in: Training a segmentation network.

    Example:
        >>> from mednotes.train import History
        >>> def run(lr):
        ...     return [History([{"epoch": e + 1, "train_loss": 1.0 / (e + 1), "dice": 0.2 * e,
        ...                       "lr": lr} for e in range(3)])]
        >>> box = schedule_explorer({("constant", 0.01): run(0.01), ("constant", 0.1): run(0.1)},
        ...                         steps_per_epoch=4)
        >>> [w.description for w in box.children[:2]]
        ['schedule', 'peak lr']
    """
    import ipywidgets as widgets

    runs = _check_runs(runs, steps_per_epoch, _metric(metric))
    schedules = tuple(s for s in SCHEDULES if any(k[0] == s for k in runs))
    first = next(iter(runs))
    schedule = first[0] if schedule is None else check_choice("schedule", schedule, schedules)
    peaks = sorted({k[1] for k in runs if k[0] == schedule})
    if lr is None:
        lr = first[1] if schedule == first[0] else peaks[0]
    if (schedule, lr) not in runs:
        raise ValueError(f"lr must be one of the peak rates run with schedule {schedule!r}: "
                         f"{', '.join(f'{p:g}' for p in peaks)}; got {describe(lr)}")
    buttons = widgets.ToggleButtons(options=list(schedules), value=schedule,
                                    description="schedule")
    slider = widgets.SelectionSlider(options=[(f"{p:g}", p) for p in peaks], value=lr,
                                     description="peak lr", continuous_update=False)
    readout = widgets.Label()
    picture = widgets.Image(format="png")
    fig, update = _schedule_figure(runs, steps_per_epoch, metric, dpi=72)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        key = (buttons.value, slider.value)
        if key not in runs:  # this peak rate was not run with this schedule: the nearest one
            options = sorted({k[1] for k in runs if k[0] == buttons.value})
            nearest = min(options, key=lambda p: abs(math.log(p / slider.value)))
            slider.options = [(f"{p:g}", p) for p in options]
            slider.value = nearest  # observing the slider redraws
            return
        picture.value, _ = frames.frame(key, lambda: update(*key))
        readout.value = _readout(runs, key, metric)

    buttons.observe(redraw, names="value")
    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([buttons, slider, readout, picture])


def schedule_animation(runs: dict, steps_per_epoch: int, *, metric: str = "dice",
                       interval_ms: int = 1500, dpi: int = 64):
    """The static twin of :func:`schedule_explorer`: each schedule at each peak rate, in turn.

    Args:
        runs, steps_per_epoch, metric: as for :func:`schedule_explorer`.
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Example:
        >>> from mednotes.train import History
        >>> run = [History([{"epoch": 1, "train_loss": 0.5, "dice": 0.3, "lr": 0.01}])]
        >>> anim = schedule_animation({("constant", 0.01): run}, steps_per_epoch=2)
        >>> anim.to_jshtml().count("frames[0]"), anim.to_jshtml().count("frames[1]")
        (1, 0)
    """
    runs = _check_runs(runs, steps_per_epoch, _metric(metric))
    check_interval_ms(interval_ms)
    order = sorted(runs, key=lambda k: (SCHEDULES.index(k[0]), k[1]))
    fig, update = _schedule_figure(runs, steps_per_epoch, metric, dpi=dpi)

    def frame(k: int):
        update(*order[k])
        return ()

    frame(0)
    return animation.FuncAnimation(fig, frame, frames=len(order), interval=interval_ms,
                                   blit=False)


def _metric(metric) -> str:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a column name (str), got {describe(metric)}")
    return metric


__all__ = ["lr_curve", "schedule_animation", "schedule_explorer", "schedule_runs"]

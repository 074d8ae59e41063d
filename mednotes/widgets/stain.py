"""The stain explorer: scale a patch's haematoxylin and eosin, watch the classifiers answer.

One histology patch is deconvolved into its stain amounts; two sliders multiply the amount of
haematoxylin and of eosin (:func:`~mednotes.data.stain.stain_jitter`), and the recoloured
patch goes to one or more classifiers, whose class probabilities are drawn as bars beside
it. A classifier that learned "dark nuclei mean atypia" changes its answer as the
haematoxylin darkens; one trained with stain augmentation should not.

Explained in: Pathology: patch classification on histology.

Tested against: the classifiers called directly on ``stain_jitter``'s output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib import animation
from matplotlib.figure import Figure

from mednotes._checks import check_number, check_tensor, describe
from mednotes.data.stain import stain_jitter
from mednotes.widgets._figure import FigureFrames, check_interval_ms

#: The haematoxylin factors the static twin steps through.
SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25)
_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


def _check_patch(patch) -> torch.Tensor:
    check_tensor("patch", patch)
    if patch.dim() != 3 or patch.shape[0] != 3 or 0 in patch.shape:
        raise ValueError(f"patch must be one RGB image (3, H, W), got shape {tuple(patch.shape)}")
    return patch


def _check_models(models, classes) -> tuple[dict[str, Callable], tuple[str, ...]]:
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a dict {name: predict}, each predict mapping a batch "
                        f"(N, 3, H, W) of RGB patches to probabilities (N, classes); got "
                        f"{describe(models)}")
    if len(models) > len(_COLOURS):
        raise ValueError(f"models can hold at most {len(_COLOURS)} classifiers, got {len(models)}")
    for name, model in models.items():
        if not isinstance(name, str) or not callable(model):
            raise TypeError(f"models must map names (str) to callables, got {name!r}: "
                            f"{describe(model)}")
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes \
            or not all(isinstance(c, str) for c in classes):
        raise TypeError(f"classes must be a sequence of class names, got {describe(classes)}")
    return dict(models), tuple(classes)


def recolour(patch: torch.Tensor, haematoxylin: float, eosin: float) -> torch.Tensor:
    """``patch`` with its haematoxylin and eosin amounts multiplied by the two factors.

    Example:
        >>> from mednotes.data import histology_patches
        >>> patch = histology_patches(1, size=32)[0][0]
        >>> bool(recolour(patch, 2.0, 1.0).mean() < recolour(patch, 1.0, 1.0).mean())
        True
    """
    patch = _check_patch(patch)
    h = check_number("haematoxylin", haematoxylin, 0.0, open_low=True)
    e = check_number("eosin", eosin, 0.0, open_low=True)
    scale = torch.tensor([h, e, 1.0], dtype=patch.dtype, device=patch.device)
    return stain_jitter(patch, scale, torch.zeros_like(scale))


def stain_probabilities(patch: torch.Tensor, models: Mapping[str, Callable], classes,
                        haematoxylin: float = 1.0, eosin: float = 1.0) -> dict[str, np.ndarray]:
    """Each classifier's class probabilities for the recoloured patch.

    Args:
        patch: ``(3, H, W)`` RGB in [0, 1].
        models: ``{name: predict}``; ``predict`` maps ``(N, 3, H, W)`` RGB to probabilities
            ``(N, len(classes))``.
        classes: the class names.
        haematoxylin, eosin: factors of the two stains' amounts, > 0.

    Returns:
        ``{name: probabilities}``, float64 arrays of ``len(classes)``.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> uniform = lambda x: torch.full((len(x), 3), 1 / 3)
        >>> patch = torch.full((3, 8, 8), 0.6)
        >>> stain_probabilities(patch, {"flat": uniform}, ("a", "b", "c"), 2.0)["flat"].round(3)
        array([0.333, 0.333, 0.333])
    """
    models, classes = _check_models(models, classes)
    image = recolour(patch, haematoxylin, eosin)
    result = {}
    with torch.no_grad():
        for name, model in models.items():
            out = model(image[None])
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, len(classes)):
                raise ValueError(f"models[{name!r}] must return probabilities of shape "
                                 f"(N, {len(classes)}), got {describe(out)}")
            result[name] = out[0].detach().double().cpu().numpy()
    return result


def _stain_figure(patch, models, classes, dpi: int = 80):
    fig = Figure(figsize=(8.0, 3.4), dpi=dpi, layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.6))
    shown = left.imshow(patch.permute(1, 2, 0).cpu().numpy())
    left.set_axis_off()
    width = 0.8 / len(models)
    x = np.arange(len(classes))
    bars = {}
    for j, (name, colour) in enumerate(zip(models, _COLOURS)):
        bars[name] = right.bar(x + (j - (len(models) - 1) / 2) * width, np.zeros(len(classes)),
                               width, color=colour, label=name)
    right.set_xticks(x, classes)
    right.set_ylim(0, 1)
    right.set_ylabel("probability")
    right.axhline(1 / len(classes), color="0.6", ls=":", lw=1)
    right.legend(fontsize=9, loc="upper right")

    def update(haematoxylin: float, eosin: float) -> dict[str, np.ndarray]:
        image = recolour(patch, haematoxylin, eosin)
        shown.set_data(image.permute(1, 2, 0).cpu().numpy())
        left.set_title(f"haematoxylin ×{haematoxylin:.2f}, eosin ×{eosin:.2f}", fontsize=10)
        probs = stain_probabilities(patch, models, classes, haematoxylin, eosin)
        for name, values in probs.items():
            for bar, value in zip(bars[name], values):
                bar.set_height(value)
        right.set_title("class probabilities", fontsize=10)
        return probs

    update(1.0, 1.0)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig, update


def _readout(probs: dict[str, np.ndarray], classes) -> str:
    return " · ".join(f"{name}: {classes[int(p.argmax())]} ({p.max():.2f})"
                      for name, p in probs.items())


def stain_explorer(patch: torch.Tensor, models: Mapping[str, Callable], classes, *,
                   haematoxylin: float = 1.0, eosin: float = 1.0):
    """Sliders for the haematoxylin and eosin factors over a patch and its classifications.

    Args:
        patch: ``(3, H, W)`` RGB patch in [0, 1].
        models: ``{name: predict}`` (at most 4), each mapping ``(N, 3, H, W)`` RGB to class
            probabilities.
        classes: the class names.
        haematoxylin, eosin: the factors shown first, in [0.25, 3].

    Returns:
        An ``ipywidgets`` box; leave it last in a cell to use it.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> uniform = lambda x: torch.full((len(x), 2), 0.5)
        >>> box = stain_explorer(torch.full((3, 8, 8), 0.6), {"flat": uniform}, ("a", "b"))
        >>> [w.description for w in box.children[:2]]
        ['haematoxylin', 'eosin']
    """
    import ipywidgets as widgets

    patch = _check_patch(patch)
    models, classes = _check_models(models, classes)
    h = check_number("haematoxylin", haematoxylin, 0.25, 3.0)
    e = check_number("eosin", eosin, 0.25, 3.0)
    sliders = [widgets.FloatSlider(value=v, min=0.25, max=3.0, step=0.05, description=name,
                                   continuous_update=False)
               for name, v in (("haematoxylin", h), ("eosin", e))]
    readout = widgets.Label()
    picture = widgets.Image(format="png")
    fig, update = _stain_figure(patch, models, classes, dpi=72)
    frames = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        state = (sliders[0].value, sliders[1].value)
        picture.value, probs = frames.frame(state, lambda: update(*state))
        readout.value = _readout(probs, classes)

    for slider in sliders:
        slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([*sliders, readout, picture])


def stain_animation(patch: torch.Tensor, models: Mapping[str, Callable], classes, *,
                    scales: Sequence[float] = SCALES, interval_ms: int = 900, dpi: int = 64):
    """The static twin of :func:`stain_explorer`: the haematoxylin factor steps through
    ``scales`` (eosin at 1).

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Example:
        >>> uniform = lambda x: torch.full((len(x), 2), 0.5)
        >>> anim = stain_animation(torch.full((3, 8, 8), 0.6), {"flat": uniform}, ("a", "b"),
        ...                        scales=(0.5, 1.0, 2.0))
        >>> html = anim.to_jshtml()
        >>> html.count("frames[2]"), html.count("frames[3]")
        (1, 0)
    """
    patch = _check_patch(patch)
    models, classes = _check_models(models, classes)
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or not scales:
        raise TypeError(f"scales must be a sequence of haematoxylin factors, got "
                        f"{describe(scales)}")
    scales = tuple(check_number("scales", s, 0.0, open_low=True) for s in scales)
    check_interval_ms(interval_ms)
    fig, update = _stain_figure(patch, models, classes, dpi=dpi)

    def frame(k: int):
        update(scales[k], 1.0)
        return ()

    frame(0)
    return animation.FuncAnimation(fig, frame, frames=len(scales), interval=interval_ms,
                                   blit=False)


__all__ = ["SCALES", "recolour", "stain_animation", "stain_explorer", "stain_probabilities"]

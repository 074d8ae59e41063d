"""The sliding-window explorer: window overlap and blending mode against the seam they leave.

A network applied window by window sees zero padding at every window's edge, where the whole
image would have given it real context; its output near a window's edge differs from what it
would have said about the same pixel in the whole image. Where the windows meet, that error
draws a grid on the output: the *seam*. Overlapping windows average several windows' outputs
at each pixel, and Gaussian blending gives the edges of each window little weight, so the
seam fades.

For each overlap and blending mode the explorer shows three panels: the image with the
windows drawn on it, the sum of the windows' weights at each pixel
(:func:`~mednotes.inference.blend_weights`), and the seam: the absolute difference between
the sliding-window output (:func:`~mednotes.inference.sliding_window_inference`) and the
predictor applied to the whole image at once. Everything is computed once, when the explorer
is built (:func:`~mednotes.widgets.sliding_window.sliding_window_frames`), so moving a
control only redraws.

Explained in: Neuroradiology: lesion segmentation on brain MRI.

Tested against: :func:`~mednotes.inference.sliding_window_inference` and the predictor on the
whole image, recomputed in the tests; window outlines against
:func:`~mednotes.inference.window_starts`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import animation
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mednotes._checks import (
    check_choice,
    check_int,
    check_number,
    check_tensor,
    describe,
)
from mednotes.inference import (
    MODES,
    blend_weights,
    sliding_window_inference,
    window_starts,
)
from mednotes.viz import imshow
from mednotes.widgets._figure import FigureFrames, check_interval_ms, nice_limit

#: The overlaps the explorer offers by default.
OVERLAPS = (0.0, 0.25, 0.5, 0.75)


def box_predictor(windows: torch.Tensor, width: int = 9) -> torch.Tensor:
    """The simplest predictor that sees padding: a ``width × width`` mean with zero padding.

    Near a window's edge the mean takes in zeros from outside the window, as a convolutional
    network's first layers do; applied to the whole image it takes in real pixels instead.

    Args:
        windows: ``(n, C, H, W)``.
        width: odd side of the box, in pixels.

    Returns:
        ``(n, C, H, W)``: the mean over each pixel's box (zeros counted).

    Example:
        >>> box_predictor(torch.ones(1, 1, 3, 3), width=3)[0, 0]
        tensor([[0.4444, 0.6667, 0.4444],
                [0.6667, 1.0000, 0.6667],
                [0.4444, 0.6667, 0.4444]])
    """
    width = check_int("width", width, 1)
    if width % 2 == 0:
        raise ValueError(f"width must be odd (the box is centred on a pixel), got {width}")
    return F.avg_pool2d(windows, width, stride=1, padding=width // 2, count_include_pad=True)


def default_image(size: int = 96) -> torch.Tensor:
    """An axial slice of the MNI brain with synthetic lesions, ``(size, size)``, in [0, 1].

    Example:
        >>> default_image(64).shape
        torch.Size([64, 64])
    """
    from mednotes.data import brain_lesions

    size = check_int("size", size, 24, 512)
    return brain_lesions(1, size=size, seed=3)[0][0][0]


def sliding_window_frames(image: torch.Tensor | None = None,
                          predictor: Callable | None = None, *, roi_size: int = 32,
                          overlaps=OVERLAPS, modes=MODES, channel: int = 0,
                          sigma_scale: float = 0.125) -> dict:
    """Everything the explorer draws, for every overlap and blending mode.

    Args:
        image: a 2D image ``(H, W)`` (default: ``default_image()``).
        predictor: ``predictor(windows (n, 1, h, w)) -> (n, C, h, w)``, e.g. a trained 2D
            U-Net in eval mode (default: :func:`~mednotes.widgets.sliding_window.box_predictor`).
        roi_size: the window's side in pixels.
        overlaps: the overlaps to offer, each in [0, 1).
        modes: blending modes, among ``"constant"`` and ``"gaussian"``.
        channel: the output channel to show (for a U-Net's softmax, 1 = lesion).
        sigma_scale: σ of the Gaussian blending, as a fraction of the window.

    Returns:
        A dict with ``"image"`` (H, W), ``"whole"`` (the predictor on the whole image,
        (H, W)), ``"roi_size"``, and for each ``(overlap, mode)``: a dict with ``"output"``,
        ``"weights"`` (:func:`~mednotes.inference.blend_weights`) and ``"seam"``
        (``|output − whole|``), numpy arrays, plus ``"starts"`` (the windows' corners per
        axis). A predictor with several channels is read through a softmax.

    Example:
        >>> frames = sliding_window_frames(torch.rand(40, 40), roi_size=16, overlaps=(0.0, 0.5))
        >>> sorted(k for k in frames if isinstance(k, tuple))
        [(0.0, 'constant'), (0.0, 'gaussian'), (0.5, 'constant'), (0.5, 'gaussian')]
        >>> frames[0.0, "constant"]["starts"]
        ([0, 16, 24], [0, 16, 24])
    """
    image = default_image() if image is None else check_tensor("image", image)
    if image.dim() != 2:
        raise ValueError(f"image must be 2D (H, W), got shape {tuple(image.shape)}")
    predictor = box_predictor if predictor is None else predictor
    if not callable(predictor):
        raise TypeError(f"predictor must be callable, got {describe(predictor)}")
    roi_size = check_int("roi_size", roi_size, 2, min(image.shape))
    overlaps = _check_overlaps(overlaps)
    modes = _check_modes(modes)
    channel = check_int("channel", channel, 0)
    sigma_scale = check_number("sigma_scale", sigma_scale, 0.0, None, open_low=True)
    x = image.detach().float()[None, None]

    def read(out: torch.Tensor) -> np.ndarray:
        if channel >= out.shape[1]:
            raise ValueError(f"channel must be below the predictor's {out.shape[1]} output "
                             f"channels, got {channel}")
        if out.shape[1] > 1:
            out = out.softmax(1)
        return out[0, channel].float().numpy()

    frames: dict = {"roi_size": roi_size}
    with torch.no_grad():
        whole = read(predictor(x))
        frames["image"], frames["whole"] = image.detach().float().numpy(), whole
        for overlap in overlaps:
            for mode in modes:
                output = read(sliding_window_inference(
                    x, roi_size, predictor, overlap=overlap, mode=mode, sigma_scale=sigma_scale,
                    sw_batch_size=16))
                frames[overlap, mode] = {
                    "output": output,
                    "weights": blend_weights(image.shape, roi_size, overlap, mode,
                                             sigma_scale).numpy(),
                    "seam": np.abs(output - whole),
                    "starts": window_starts(image.shape, roi_size, overlap),
                }
    return frames


def _check_overlaps(overlaps) -> tuple[float, ...]:
    if isinstance(overlaps, (str, bytes)) or not hasattr(overlaps, "__iter__"):
        raise TypeError(f"overlaps must be a sequence of overlaps such as (0.0, 0.5), got "
                        f"{describe(overlaps)}")
    values = tuple(check_number("overlaps", o, 0.0, 1.0, open_high=True) for o in overlaps)
    if not values:
        raise ValueError("overlaps must hold at least one overlap")
    return tuple(sorted(set(values)))


def _check_modes(modes) -> tuple[str, ...]:
    if isinstance(modes, str) or not hasattr(modes, "__iter__"):
        raise TypeError(f"modes must be a sequence such as ('constant', 'gaussian'), got "
                        f"{describe(modes)}")
    values = tuple(check_choice("modes", m, MODES) for m in modes)
    if not values:
        raise ValueError("modes must hold at least one mode")
    return tuple(m for m in MODES if m in values)


def _check_frames(frames) -> dict:
    if not isinstance(frames, dict) or "image" not in frames or "whole" not in frames:
        raise TypeError(f"frames must be the dict that sliding_window_frames() returns, got "
                        f"{describe(frames)}")
    return frames


def _keys(frames: dict) -> list[tuple[float, str]]:
    return sorted((k for k in frames if isinstance(k, tuple)),
                  key=lambda k: (k[0], MODES.index(k[1])))


def seam_error(frames: dict, overlap: float, mode: str) -> float:
    """The mean ``|sliding-window output − whole-image output|`` of one setting.

    Example:
        >>> frames = sliding_window_frames(torch.rand(40, 40), roi_size=16, overlaps=(0.5,))
        >>> seam_error(frames, 0.5, "constant") > seam_error(frames, 0.5, "gaussian") >= 0
        True
    """
    return float(frames[overlap, mode]["seam"].mean())


def _figure(frames: dict, dpi: int = 80):
    """Image with windows, blending weights, and the seam; ``update`` redraws one setting."""
    fig = Figure(figsize=(10.5, 3.7), dpi=dpi, layout="constrained")
    axes = fig.subplots(1, 3)
    roi = frames["roi_size"]
    imshow(axes[0], frames["image"], title="image and windows")
    keys = _keys(frames)
    top_seam = max(max(frames[k]["seam"].max() for k in keys), 1e-6)
    weights = imshow(axes[1], frames[keys[0]]["weights"], kind="feature",
                     title="sum of the windows' weights", colorbar="weight", vmin=0.0)
    seam = imshow(axes[2], frames[keys[0]]["seam"], kind="feature",
                  title="|sliding window − whole image|", colorbar="difference", vmin=0.0,
                  vmax=top_seam)
    outlines: dict[tuple, PatchCollection] = {}  # window corners -> their outlines, made once

    def update(overlap: float, mode: str) -> float:
        frame = frames[overlap, mode]
        rows, cols = frame["starts"]
        key = (tuple(rows), tuple(cols))
        if key not in outlines:
            colours = ("tab:orange", "tab:cyan", "tab:pink", "tab:olive")
            outlines[key] = axes[0].add_collection(PatchCollection(
                [Rectangle((c - 0.5, r - 0.5), roi, roi, fill=False, lw=1.0,
                           ec=colours[(i + j) % len(colours)])
                 for i, r in enumerate(rows) for j, c in enumerate(cols)], match_original=True),
                autolim=False)
        for corners, windows in outlines.items():
            windows.set_visible(corners == key)
        weights.set_data(frame["weights"])
        # each setting on its own scale, rounded up: settings of a similar range share the
        # colour bar, and it is drawn again only when the scale changes
        scale = (0.0, nice_limit(float(frame["weights"].max())))
        if weights.get_clim() != scale:
            weights.set_clim(*scale)
        seam.set_data(frame["seam"])
        error = float(frame["seam"].mean())
        fig.suptitle(f"overlap {overlap:.2f}, {mode} blending: {len(rows) * len(cols)} windows, "
                     f"mean seam {error:.4f}", fontsize=11)
        return error

    update(*keys[0])
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig, update


def _readout(frames: dict, overlap: float, mode: str) -> str:
    frame = frames[overlap, mode]
    rows, cols = frame["starts"]
    return (f"{len(rows) * len(cols)} windows · weight sum {frame['weights'].min():.2f} to "
            f"{frame['weights'].max():.2f} · seam mean {frame['seam'].mean():.4f}, max "
            f"{frame['seam'].max():.4f}")


def sliding_window_explorer(frames: dict | None = None, *, overlap: float = 0.0,
                            mode: str = "constant"):
    """An overlap slider and a blending toggle over the windows, weights and seam.

    Args:
        frames: from :func:`~mednotes.widgets.sliding_window.sliding_window_frames`
            (default: computed on a brain slice with
            :func:`~mednotes.widgets.sliding_window.box_predictor`).
        overlap: the overlap shown first, one of the frames' overlaps.
        mode: the blending mode shown first.

    Returns:
        An ``ipywidgets`` box; leave it last in a cell to use it.

    Explained in: Neuroradiology: lesion segmentation on brain MRI.

    Example:
        >>> frames = sliding_window_frames(torch.rand(40, 40), roi_size=16, overlaps=(0.0, 0.5))
        >>> box = sliding_window_explorer(frames, overlap=0.5)
        >>> [w.description for w in box.children[:2]]
        ['overlap', 'blending']
    """
    import ipywidgets as widgets

    frames = sliding_window_frames() if frames is None else _check_frames(frames)
    keys = _keys(frames)
    overlaps = sorted({k[0] for k in keys})
    modes = [m for m in MODES if any(k[1] == m for k in keys)]
    overlap = check_number("overlap", overlap)
    if overlap not in overlaps:
        raise ValueError(f"overlap must be one of the frames' overlaps "
                         f"{', '.join(str(o) for o in overlaps)}; got {overlap}")
    mode = check_choice("mode", mode, modes)
    slider = widgets.SelectionSlider(options=overlaps, value=overlap, description="overlap",
                                     continuous_update=False)
    toggle = widgets.ToggleButtons(options=modes, value=mode, description="blending")
    readout = widgets.Label()
    picture = widgets.Image(format="png")
    fig, update = _figure(frames, dpi=72)
    pictures = FigureFrames(fig)  # redraws only what moved; keeps the pictures already shown

    def redraw(*_):
        state = (slider.value, toggle.value)
        picture.value, _ = pictures.frame(state, lambda: update(*state))
        readout.value = _readout(frames, *state)

    for control in (slider, toggle):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, toggle, readout, picture])


def sliding_window_animation(frames: dict | None = None, *, interval_ms: int = 1500,
                             dpi: int = 64):
    """The static twin of :func:`sliding_window_explorer`: every overlap, constant then
    Gaussian blending.

    Args:
        frames: from :func:`~mednotes.widgets.sliding_window.sliding_window_frames`
            (default: computed as for the explorer).
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Example:
        >>> frames = sliding_window_frames(torch.rand(40, 40), roi_size=16, overlaps=(0.0, 0.5))
        >>> html = sliding_window_animation(frames).to_jshtml()
        >>> html.count("frames[3]"), html.count("frames[4]")
        (1, 0)
    """
    frames = sliding_window_frames() if frames is None else _check_frames(frames)
    check_interval_ms(interval_ms)
    keys = _keys(frames)
    fig, update = _figure(frames, dpi=dpi)

    def frame(k: int):
        update(*keys[k])
        return ()

    frame(0)
    return animation.FuncAnimation(fig, frame, frames=len(keys), interval=interval_ms,
                                   blit=False)


__all__ = ["OVERLAPS", "box_predictor", "default_image", "seam_error",
           "sliding_window_animation", "sliding_window_explorer", "sliding_window_frames"]

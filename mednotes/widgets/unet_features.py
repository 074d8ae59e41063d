"""The U-Net feature viewer: pick a level and a channel, see what a trained network computes.

A U-Net's feature maps are cheap to get once and expensive to get again, so the viewer runs
the network a single time (:func:`unet_features`, forward hooks on every encoder and decoder
level), keeps every level's maps, and a redraw only picks one of them. Three panels:

- the input image, with a cross where the chosen channel responds most strongly (the feature
  pixel's centre, mapped back to input pixels);
- the chosen channel's map at its own resolution;
- every channel of the level side by side (a mosaic, each channel scaled to its own maximum),
  the chosen one framed.

Explained in: What a CNN sees: encoders, decoders and U-Net.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib import animation
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mednotes._checks import check_int, check_tensor, describe, is_int
from mednotes.nets import UNet
from mednotes.viz import ANATOMY_CMAP, FEATURE_CMAP
from mednotes.widgets._figure import FigureFrames, nice_limit

#: Pixels between the channels of the mosaic.
MOSAIC_GAP = 1


def level_names(model: UNet) -> list[str]:
    """The names of a U-Net's levels, from the input to the output.

    ``"encoder i"`` is the output of the encoder's level ``i`` (before pooling), the
    ``"bottleneck"`` the deepest level, ``"decoder i"`` the output of the decoder's level
    ``i`` (after the skip is merged and both convolutions have run).

    Example:
        >>> level_names(UNet(1, 2, base_channels=4, depth=2))
        ['encoder 0', 'encoder 1', 'bottleneck', 'decoder 1', 'decoder 0']
    """
    _check_model(model)
    depth = model.depth
    return ([f"encoder {i}" for i in range(depth)] + ["bottleneck"]
            + [f"decoder {i}" for i in reversed(range(depth))])


def level_scale(name: str) -> int:
    """How many input pixels one step on a level's map spans: ``2**i`` at level ``i``.

    Example:
        >>> level_scale("encoder 0"), level_scale("decoder 2")
        (1, 4)
    """
    if name == "bottleneck":
        raise ValueError("the bottleneck's scale depends on the depth; use 2**model.depth")
    kind, _, index = name.partition(" ")
    if kind not in ("encoder", "decoder") or not index.isdigit():
        raise ValueError(f"name must be 'encoder i', 'bottleneck' or 'decoder i', got {name!r}")
    return 2 ** int(index)


def _check_model(model) -> None:
    if not isinstance(model, UNet):
        raise TypeError(f"model must be a mednotes.nets.UNet, got {type(model).__name__}")


def unet_features(model: UNet, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every level's feature maps of a U-Net for a batch of images, in one forward pass.

    The network runs in eval mode (batch norm uses its running statistics) and without
    gradients; its training mode is restored afterwards.

    Args:
        model: a :class:`mednotes.nets.UNet`.
        images: ``(N, C, *spatial)``, or one image ``(C, *spatial)``.

    Returns:
        ``{level name: maps}`` in the order of :func:`~mednotes.widgets.unet_features.level_names`;
        maps are ``(N, channels, *spatial of the level)``, or ``(channels, ...)`` for one image.

    Shape:
        ``images`` ``(N, in_channels, H, W)`` -> level ``i`` ``(N, base_channels * 2**i,
        H / 2**i, W / 2**i)`` with same padding (smaller with valid padding).

    Explained in: What a CNN sees: encoders, decoders and U-Net.

    Example:
        >>> net = UNet(1, 2, base_channels=4, depth=2)
        >>> maps = unet_features(net, torch.zeros(1, 16, 16))
        >>> {name: tuple(m.shape) for name, m in maps.items()}
        {'encoder 0': (4, 16, 16), 'encoder 1': (8, 8, 8), 'bottleneck': (16, 4, 4), 'decoder 1': (8, 8, 8), 'decoder 0': (4, 16, 16)}
    """
    _check_model(model)
    check_tensor("images", images)
    single = images.dim() == model.dim + 1
    batch = images[None] if single else images
    names = level_names(model)
    modules = list(model.encoders) + list(model.decoders)
    found: dict[str, torch.Tensor] = {}
    hooks = [module.register_forward_hook(
        lambda _m, _i, out, name=name: found.__setitem__(name, out.detach().clone()))
        for name, module in zip(names, modules)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(batch)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return {name: found[name][0] if single else found[name] for name in names}


def mosaic(maps: torch.Tensor, columns: int | None = None) -> tuple[np.ndarray, int]:
    """The channels of ``maps`` ``(C, h, w)`` tiled in a grid, each scaled to [0, 1] by its
    own maximum of ``|value|``; the gaps are NaN (drawn blank). Returns ``(image, columns)``.

    Example:
        >>> tiles, columns = mosaic(torch.ones(5, 2, 3))
        >>> tiles.shape, columns
        ((5, 11), 3)
    """
    channels, h, w = maps.shape
    columns = math.ceil(math.sqrt(channels)) if columns is None else columns
    rows = math.ceil(channels / columns)
    out = np.full((rows * (h + MOSAIC_GAP) - MOSAIC_GAP, columns * (w + MOSAIC_GAP) - MOSAIC_GAP),
                  np.nan)
    values = maps.detach().to("cpu", torch.float64).numpy()
    for k in range(channels):
        r, c = divmod(k, columns)
        peak = np.abs(values[k]).max()
        out[r * (h + MOSAIC_GAP):r * (h + MOSAIC_GAP) + h,
            c * (w + MOSAIC_GAP):c * (w + MOSAIC_GAP) + w] = values[k] / peak if peak > 0 else 0.0
    return out, columns


def strongest(feature: torch.Tensor, scale: int, input_shape: tuple[int, int]) -> tuple[float, float]:
    """Where a 2D map ``(h, w)`` is largest, in input pixel coordinates ``(row, column)``.

    The map and the input are taken as centred on each other (true for same padding, and
    for valid padding, whose crops are symmetric); one map step spans ``scale`` pixels.

    Example:
        >>> m = torch.zeros(4, 4); m[1, 2] = 1.0
        >>> strongest(m, 2, (8, 8))
        (2.5, 4.5)
    """
    h, w = feature.shape
    flat = int(torch.argmax(feature))
    r, c = divmod(flat, w)
    rows, cols = input_shape
    return ((rows - 1) / 2 + (r - (h - 1) / 2) * scale, (cols - 1) / 2 + (c - (w - 1) / 2) * scale)


def _image(model: UNet, image) -> torch.Tensor:
    """The explorer's input as a ``(C, H, W)`` float tensor, checked against the model."""
    _check_model(model)
    if model.dim != 2:
        raise ValueError(f"the feature viewer shows 2D networks; this UNet has dim={model.dim} "
                         "(show a slice of a 3D network's maps with unet_features instead)")
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.asarray(image, dtype=np.float32))
    check_tensor("image", image)
    if image.dim() == 2:
        image = image[None]
    if image.dim() != 3:
        raise ValueError(f"image must be (H, W) or (C, H, W), got shape {tuple(image.shape)}")
    if image.shape[0] != model.in_channels:
        raise ValueError(f"image has {image.shape[0]} channels, but the model was built for "
                         f"in_channels={model.in_channels}")
    return image.detach().float().cpu()


def _level_of(levels: list[str], level) -> str:
    if isinstance(level, str):
        if level not in levels:
            raise ValueError(f"level must be one of {levels} or an index, got {level!r}")
        return level
    if not is_int(level):
        raise TypeError(f"level must be a level name or an int index, got {describe(level)}")
    check_int("level", level, 0, len(levels) - 1)
    return levels[int(level)]


class _Viewer:
    """The figure of the explorer and of its static twin; ``show(level, channel)`` redraws."""

    def __init__(self, model: UNet, image: torch.Tensor, dpi: int):
        self.features = unet_features(model, image)     # computed once, then only looked up
        self._mosaics: dict[str, tuple[np.ndarray, int]] = {}
        self._mosaic_level = None
        self.depth = model.depth
        self.levels = list(self.features)
        self.input_shape = tuple(image.shape[1:])
        fig = Figure(figsize=(11.0, 3.9), dpi=dpi, layout="constrained")
        self.fig = fig
        ax_in, ax_map, ax_all = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.1, 1]})
        self.axes = (ax_in, ax_map, ax_all)
        picture = image[0].numpy()
        ax_in.imshow(picture, cmap=ANATOMY_CMAP, interpolation="nearest")
        (self.cross,) = ax_in.plot([0], [0], "+", color="#ff3b3b", ms=16, mew=2.5)
        first = self.features[self.levels[0]][0].numpy()
        self.map = ax_map.imshow(first, cmap=FEATURE_CMAP, interpolation="nearest")
        fig.colorbar(self.map, ax=ax_map, fraction=0.046, pad=0.04, label="activation")
        self.all = ax_all.imshow(mosaic(self.features[self.levels[0]])[0], cmap=FEATURE_CMAP,
                                 vmin=0, vmax=1, interpolation="nearest")
        self.frame = Rectangle((0, 0), 1, 1, fill=False, ec="#ff3b3b", lw=2)
        ax_all.add_patch(self.frame)
        for ax in self.axes:
            ax.set_xticks([])
            ax.set_yticks([])
        self.show(self.levels[0], 0)
        fig.draw_without_rendering()
        fig.set_layout_engine("none")

    def scale(self, level: str) -> int:
        return 2 ** self.depth if level == "bottleneck" else level_scale(level)

    def show(self, level: str, channel: int) -> torch.Tensor:
        maps = self.features[level]
        check_int("channel", channel, 0, maps.shape[0] - 1)
        shown = maps[channel]
        values = shown.numpy()
        self.map.set_data(values)
        # Each setter below redraws a colour bar or moves axis limits: called only for a change.
        limits = _colour_range(float(values.min()), float(values.max()))
        if self.map.get_clim() != limits:
            self.map.set_clim(*limits)
        _place(self.map, values.shape)
        if level not in self._mosaics:
            self._mosaics[level] = mosaic(maps)
        tiles, columns = self._mosaics[level]
        if self._mosaic_level != level:  # the mosaic changes with the level only
            self.all.set_data(tiles)
            _place(self.all, tiles.shape)
            self._mosaic_level = level
        h, w = shown.shape
        r, c = divmod(channel, columns)
        self.frame.set_bounds(c * (w + MOSAIC_GAP) - 1, r * (h + MOSAIC_GAP) - 1, w + 1, h + 1)
        row, col = strongest(shown, self.scale(level), self.input_shape)
        self.cross.set_data([col], [row])
        size = "×".join(str(s) for s in shown.shape)
        for ax, title in zip(self.axes, ("input; + strongest response",
                                         f"{level}, channel {channel} ({size})",
                                         f"all {maps.shape[0]} channels of {level}")):
            if ax.get_title() != title:
                ax.set_title(title, fontsize=10)
        return shown


def _place(image, shape) -> None:
    """Pixel centres at whole coordinates, for an image of ``shape`` (only if it moved)."""
    extent = (-0.5, shape[1] - 0.5, shape[0] - 0.5, -0.5)
    if tuple(image.get_extent()) != extent:
        image.set_extent(extent)


def _colour_range(low: float, high: float) -> tuple[float, float]:
    """The map's colour scale: from 0 (or a round number below a negative minimum) to a
    round number at or above the maximum, so that channels of a similar range share one
    colour bar (and it need not be drawn again)."""
    bottom = 0.0 if low >= 0 else -nice_limit(-low)
    top = nice_limit(high) if high > 0 else 0.0
    return bottom, top if top > bottom else bottom + 1e-6


def unet_feature_explorer(model: UNet, image, *, level=0, channel: int = 0):
    """Pick a level and a channel of a trained U-Net and see its feature map for an image.

    The network runs once; every level's maps are kept, so moving the controls only redraws.

    Args:
        model: a 2D :class:`mednotes.nets.UNet` (trained, for maps worth looking at).
        image: ``(H, W)`` or ``(C, H, W)``, a size the network accepts.
        level: the level shown first, a name from :func:`~mednotes.widgets.unet_features.level_names`
            or its index.
        channel: the channel shown first.

    Returns:
        An ``ipywidgets`` box (level menu, channel slider, readout, picture); leave it last in
        a cell to use it.

    Explained in: What a CNN sees: encoders, decoders and U-Net.

    Example:
        >>> net = UNet(1, 2, base_channels=4, depth=2)
        >>> box = unet_feature_explorer(net, torch.rand(16, 16), level="bottleneck")
        >>> box.children[0].value, box.children[1].max
        ('bottleneck', 15)
    """
    import ipywidgets as widgets

    picture = _image(model, image)
    viewer = _Viewer(model, picture, dpi=72)
    first = _level_of(viewer.levels, level)
    channel = check_int("channel", channel, 0, viewer.features[first].shape[0] - 1)
    menu = widgets.Dropdown(options=viewer.levels, value=first, description="level")
    slider = widgets.IntSlider(value=channel, min=0, max=viewer.features[first].shape[0] - 1,
                               description="channel", continuous_update=False)
    readout = widgets.Label()
    picture_widget = widgets.Image(format="png")
    frames = FigureFrames(viewer.fig)  # redraws only what moved; keeps the pictures shown

    def redraw(*_):
        state = (menu.value, slider.value)
        picture_widget.value, shown = frames.frame(state, lambda: viewer.show(*state))
        readout.value = (f"{menu.value}, channel {slider.value}: "
                         f"{'×'.join(map(str, shown.shape))}, max {float(shown.max()):.3g}, "
                         f"mean {float(shown.mean()):.3g}")

    def new_level(change):
        # The slider's range follows the level's channel count; keep the channel if it fits.
        slider.unobserve(redraw, names="value")
        slider.max = viewer.features[change["new"]].shape[0] - 1
        slider.observe(redraw, names="value")
        redraw()

    menu.observe(new_level, names="value")
    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([menu, slider, readout, picture_widget])


def default_frames(model: UNet, image) -> list[tuple[str, int]]:
    """Frames of the static twin: every level in turn, at its most active channel.

    Example:
        >>> net = UNet(1, 2, base_channels=4, depth=1)
        >>> [name for name, _ in default_frames(net, torch.rand(8, 8))]
        ['encoder 0', 'bottleneck', 'decoder 0']
    """
    features = unet_features(model, _image(model, image))
    return [(name, int(maps.flatten(1).mean(1).argmax())) for name, maps in features.items()]


def unet_feature_animation(model: UNet, image, frames=None, *, interval_ms: int = 1200,
                           dpi: int = 64):
    """The static twin of :func:`unet_feature_explorer`: levels and channels in frames.

    Args:
        model, image: as for :func:`unet_feature_explorer`.
        frames: ``(level, channel)`` per frame, a level given by name or index (at most 24
            frames); default: each level at its most active channel, from input to output.
        interval_ms: milliseconds between frames.
        dpi: resolution of the frames.

    Returns:
        A ``matplotlib.animation.FuncAnimation``; :func:`~mednotes.widgets.animation_html`
        turns it into an offline player.

    Explained in: What a CNN sees: encoders, decoders and U-Net.

    Example:
        >>> net = UNet(1, 2, base_channels=4, depth=1)
        >>> anim = unet_feature_animation(net, torch.rand(8, 8), [(0, 1), ("bottleneck", 3)])
        >>> html = anim.to_jshtml()
        >>> html.count("frames[1]"), html.count("frames[2]")
        (1, 0)
    """
    picture = _image(model, image)
    viewer = _Viewer(model, picture, dpi=check_int("dpi", dpi, 20, 200))
    interval_ms = check_int("interval_ms", interval_ms, 1)
    if frames is None:
        frames = [(name, int(maps.flatten(1).mean(1).argmax()))
                  for name, maps in viewer.features.items()]
    if not isinstance(frames, (list, tuple)) or not 1 <= len(frames) <= 24:
        raise ValueError(f"frames must be a list of 1 to 24 (level, channel) pairs, "
                         f"got {describe(frames)}")
    steps = []
    for entry in frames:
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise ValueError(f"each frame must be a (level, channel) pair, got {entry!r}")
        name = _level_of(viewer.levels, entry[0])
        channel = check_int("channel", entry[1], 0, viewer.features[name].shape[0] - 1)
        steps.append((name, channel))

    def frame(k: int):
        viewer.show(*steps[k])
        return ()

    frame(0)
    return animation.FuncAnimation(viewer.fig, frame, frames=len(steps), interval=interval_ms,
                                   blit=False)


__all__ = ["default_frames", "level_names", "level_scale", "mosaic", "strongest",
           "unet_feature_animation", "unet_feature_explorer", "unet_features"]

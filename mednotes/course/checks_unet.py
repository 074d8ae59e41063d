"""Checks for the U-Net chapter's practice: output sizes and valid input sizes of a U-Net,
with valid and with same padding, and the overlap-tile strategy.

Used by ``exercises/09_unet_sizes.ipynb``; the chapter is ``book/principles/04_unet``. Every
reference comes from :class:`mednotes.nets.UNet` itself: its :meth:`~mednotes.nets.UNet.output_size`,
its :meth:`~mednotes.nets.UNet.valid_input_sizes`, or the sizes of its feature maps measured in
a forward pass.
"""

from __future__ import annotations

import math
from functools import cache

import torch

from mednotes.course.compare import Check, refined
from mednotes.nets import UNet


@cache
def _sizes_net(depth: int, padding: str) -> UNet:
    """A U-Net whose sizes are the paper's at ``depth``: sizes do not depend on the widths,
    so one channel per level is enough (and builds in no time)."""
    return UNet(1, 2, base_channels=1, depth=depth, norm=None, padding=padding)


def _output_length(n: int, depth: int) -> int:
    """The library's output size along one axis of a valid U-Net of this depth."""
    return _sizes_net(depth, "valid").output_size(n)[0]


def _fits(n: int, depth: int) -> bool:
    """Whether the library's valid U-Net of this depth accepts an input of size ``n``."""
    try:
        _sizes_net(depth, "valid").output_size(n)
    except ValueError:
        return False
    return True


def _nearest(near: int, depth: int, padding: str) -> tuple[int, int]:
    """The largest fitting size <= ``near`` and the smallest one above it, from the library."""
    below, above = _sizes_net(depth, padding).valid_input_sizes(near, count=1)
    return below, above


def _skip_crops(n: int = 572, depth: int = 4) -> tuple[int, ...]:
    """Pixels cut from each encoder level's features (per axis, both sides together) before
    the concatenation, level 0 first: measured in a forward pass of the library's network."""
    net = _sizes_net(depth, "valid")
    encoded, upsampled = {}, {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, i=i: encoded.__setitem__(i, out.shape[-1]))
             for i, m in enumerate(net.encoders)]
    hooks += [m.register_forward_hook(
        lambda _m, _i, out, i=depth - 1 - k: upsampled.__setitem__(i, out.shape[-1]))
        for k, m in enumerate(net.ups)]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 1, n, n))
    finally:
        for hook in hooks:
            hook.remove()
    return tuple(encoded[i] - upsampled[i] for i in range(depth))


def _tiles(image: int, depth: int = 4, tile: int = 572) -> int:
    """Tiles of input size ``tile`` needed to cover an ``image × image`` picture with the
    outputs of the library's valid U-Net (overlap-tile: the outputs sit side by side)."""
    out = _output_length(tile, depth)
    return math.ceil(image / out) ** 2


def _margin(tile: int = 572, depth: int = 4) -> int:
    """Context pixels on each side of a tile's output: half of what the network trims."""
    return (tile - _output_length(tile, depth)) // 2


#: The first hint of each check: the idea, before the formula or the step.
IDEAS = {
    "unet_572_output": (
        "Without padding every convolution trims the border; follow the size through "
        "every layer of the U, down and up."
    ),
    "valid_output_size": (
        "Write the walk of the previous exercise as a loop over the levels: what each "
        "level does to the size going down, and going up."
    ),
    "fits_valid": (
        "An input fits when nothing is rounded on the way: every pooling must halve an "
        "even size, and nothing may shrink to zero."
    ),
    "smallest_valid_input": (
        "Use your fits function: the answer is the first size that passes it."
    ),
    "valid_sizes_near_500": (
        "The sizes that fit are evenly spaced: find the spacing from the depth and one "
        "size that fits."
    ),
    "same_sizes_near_500": (
        "With same padding only the poolings constrain the size."
    ),
    "skip_crops": (
        "The encoder's features at a level are larger than what comes back up to that "
        "level; the skip connection crops away what is too much."
    ),
    "overlap_tile_margin": (
        "A tile must carry the context its output needs: what the network trims away."
    ),
    "tiles_for_image": (
        "The outputs of the tiles, not their inputs, must cover the image."
    ),
}


def checks() -> dict[str, Check]:
    """The checks of this chapter, by name."""
    # Valid sizes at every depth 1 to 4, small and large, including the smallest of each.
    size_cases = ((572, 4), (188, 4), (508, 4), (60, 2), (44, 2), (140, 3), (92, 3), (18, 1),
                  (20, 1), (100, 1), (64, 1))
    # Sizes that fit and sizes that nearly do: the same-padding multiples of 2**depth, one
    # step of the valid grid below the smallest size (it would shrink to nothing), odd sizes
    # after a convolution, and sizes just off the grid by 2 or by 8.
    fit_cases = ((572, 4), (570, 4), (576, 4), (564, 4), (556, 4), (512, 4), (188, 4),
                 (172, 4), (156, 4), (60, 2), (62, 2), (64, 2), (52, 2), (28, 2), (44, 2),
                 (18, 1), (16, 1), (20, 1), (10, 1), (22, 1), (140, 3), (144, 3), (132, 3),
                 (76, 3), (68, 3), (84, 3))
    return refined({
        "unet_572_output": Check(
            reference=lambda: _output_length(572, 4),
            hint="Follow the size down and up again: each unpadded 3×3 convolution takes one "
                 "pixel off each side (−2), two of them per level; a 2×2 pool halves; the "
                 "bottleneck has its two convolutions too; each up-convolution doubles, and "
                 "each decoder level has two convolutions again."),
        "valid_output_size": Check(
            reference=_output_length, cases=size_cases,
            hint="Walk the size through the network: depth times (−4, then halve), −4 at the "
                 "bottleneck, then depth times (double, then −4). Every 3×3 convolution "
                 "without padding costs 2 pixels per axis, not 1, and the decoder's "
                 "convolutions shrink the size as the encoder's do."),
        "fits_valid": Check(
            reference=_fits, cases=fit_cases,
            hint="An input fits when every size that reaches a pool is even (the pool must "
                 "halve it exactly) and no size falls to zero or below, down the encoder and "
                 "up the decoder. Walk the size through as in the previous exercise and test "
                 "both conditions on the way."),
        "smallest_valid_input": Check(
            reference=lambda: _sizes_net(4, "valid").valid_input_sizes(1, count=1)[0],
            hint="Try sizes upwards with your fits function, starting from 1, and stop at the "
                 "first that fits."),
        "valid_sizes_near_500": Check(
            reference=lambda: _nearest(500, 4, "valid"),
            hint="The sizes that fit a valid U-Net are the smallest one plus multiples of "
                 "2**depth. Find the last of them at or below 500 and the next one."),
        "same_sizes_near_500": Check(
            reference=lambda: _nearest(500, 4, "same"),
            hint="With same padding the convolutions keep the size, so only the pools matter: "
                 "each must halve an even size, depth times."),
        "skip_crops": Check(
            reference=_skip_crops,
            hint="At each level, the encoder's features (after its two convolutions) are "
                 "larger than the decoder's up-sampled features of that level, and the crop "
                 "takes away what is too much. Write down both sizes per level, from the "
                 "first level (the one next to the input) to the deepest."),
        "overlap_tile_margin": Check(
            reference=_margin,
            hint="The network trims (input − output) pixels per axis, half on each side: "
                 "that is how much context around the output a tile must carry."),
        "tiles_for_image": Check(
            reference=lambda: _tiles(900),
            hint="Each tile contributes only its output, so the outputs must cover the image: "
                 "per axis, divide the image size by the output size and round up; then "
                 "count the tiles of the whole square."),
    }, ideas=IDEAS)


__all__ = ["IDEAS", "checks"]

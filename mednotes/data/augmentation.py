"""Augmentations for segmentation: the image and its mask move together.

A transform is a callable ``t(image, mask=None, generator=None) -> (image, mask)`` on one
sample: ``image`` is a floating-point ``(C, *spatial)`` tensor and ``mask`` a
``(*spatial)`` tensor on the same device (or None for a classification sample); the output
keeps the device and dtype of each. Spatial transforms (flips, 90° rotations) move pixels, so they are
applied to both with the same random draw; intensity transforms touch the image only.
Only exact pixel moves are used, so class indices in the mask are never interpolated.

Randomness comes from the ``torch.Generator`` passed in, never from hidden state: the same
generator state gives the same result, on the CPU and on a GPU alike (the draws are taken
on the generator's device and only decide what happens to the pixels). The datasets in :mod:`mednotes.data` build that
generator from ``(seed, epoch, index)`` (see :func:`item_generator`).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

from mednotes._checks import check_int, check_number, check_tensor, describe, is_int

Transform = Callable[..., tuple[torch.Tensor, "torch.Tensor | None"]]


def item_generator(seed: int, index: int, epoch: int = 0) -> torch.Generator:
    """A torch generator for one sample, derived from ``(seed, epoch, index)`` without hashing.

    numpy's ``SeedSequence`` mixes the three numbers into a well-spread 63-bit seed, so
    neighbouring indices or epochs give unrelated streams and the result does not depend on
    the process (no ``hash()``, which Python salts per process).

    Example:
        >>> a = torch.rand(2, generator=item_generator(0, 5))
        >>> torch.equal(a, torch.rand(2, generator=item_generator(0, 5)))
        True
    """
    seed, index = check_int("seed", seed, 0), check_int("index", index, 0)
    epoch = check_int("epoch", epoch, 0)
    state = np.random.SeedSequence([seed, epoch, index, 0x5EED]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) >> 1)


def _check(image, mask, generator=None) -> int:
    """Validate one sample and the generator; return the sample's number of spatial dims."""
    check_tensor("image", image)
    if image.ndim not in (3, 4):
        raise ValueError(
            f"image must be (C, H, W) or (C, D, H, W), got {image.ndim} dims {tuple(image.shape)}"
        )
    if 0 in image.shape:
        raise ValueError(f"image is empty: shape {tuple(image.shape)} has a zero size")
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}")
        if mask.is_complex():
            raise TypeError(f"mask must be a label map, got complex dtype {mask.dtype}")
        if tuple(mask.shape) != tuple(image.shape[1:]):
            raise ValueError(
                f"mask shape {tuple(mask.shape)} must equal the image's spatial shape "
                f"{tuple(image.shape[1:])} (image is {tuple(image.shape)})"
            )
        if mask.device != image.device:
            raise ValueError(
                f"mask is on {mask.device}, image is on {image.device}; use one device")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    return image.ndim - 1


def _rand(shape, generator) -> torch.Tensor:
    """Uniform draws on the generator's own device (the CPU unless a CUDA generator is given).

    The draws decide what happens; they never touch the pixels. Taking them from the
    generator, not from the image's device, gives the same augmentation to a sample on the
    CPU and on a GPU.
    """
    return torch.rand(shape, generator=generator,
                      device=generator.device if generator is not None else None)


def _uniform(generator, low: float, high: float) -> float:
    return low + (high - low) * float(_rand((), generator))


MAX_SPATIAL = 3  # the samples are 2D (C, H, W) or 3D (C, D, H, W)


def _check_dims(name: str, dims, count: int | None) -> tuple[int, ...]:
    """Spatial axes given to a constructor: distinct ints in [-3, 2], ``count`` of them."""
    example = "(-2, -1)" if count == 2 else "(-1,) or (0, 1)"
    if isinstance(dims, (str, bytes)) or not isinstance(dims, (Sequence, torch.Size)):
        raise TypeError(f"{name} must be a tuple of spatial axes such as {example}, "
                        f"got {describe(dims)}")
    dims = tuple(dims)
    if not all(is_int(d) for d in dims):
        raise TypeError(f"{name} must hold ints (spatial axes), got {dims!r}")
    dims = tuple(int(d) for d in dims)
    if count is not None and len(dims) != count:
        raise ValueError(f"{name} must name {count} different spatial axes, got {dims!r}")
    if not dims:
        raise ValueError(f"{name} must name at least one spatial axis, got ()")
    if any(not -MAX_SPATIAL <= d < MAX_SPATIAL for d in dims):
        raise ValueError(f"{name} {dims!r} names an axis outside -{MAX_SPATIAL}..{MAX_SPATIAL - 1}:"
                         f" samples have 2 or 3 spatial axes")
    if len(set(dims)) != len(dims):
        raise ValueError(f"{name} must not repeat an axis, got {dims!r}")
    return dims


def _spatial_dims(dims, spatial: int, name: str) -> list[int]:
    """Turn dims given relative to the spatial axes (negative from the end) into -k indices."""
    if dims is None:
        return list(range(-spatial, 0))
    out = []
    for d in dims:
        if not -spatial <= d < spatial:
            raise ValueError(f"{name} {tuple(dims)} is out of range for an image with {spatial} "
                             f"spatial dims (axes -{spatial}..{spatial - 1})")
        out.append(d - spatial if d >= 0 else d)  # 0 = first spatial dim = -spatial
    if len(set(out)) != len(out):
        raise ValueError(f"{name} {tuple(dims)} names the same axis twice for an image with "
                         f"{spatial} spatial dims")
    return out


def _check_range(name: str, value, positive: bool) -> tuple[float, float]:
    """A ``(low, high)`` pair of finite numbers with low <= high (and low > 0 if positive)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name} must be a (low, high) pair of numbers, got {describe(value)}")
    low, high = (check_number(f"{name}[{i}]", v, 0.0 if positive else None, open_low=positive)
                 for i, v in enumerate(value))
    if low > high:
        raise ValueError(
            f"{name} must be a (low, high) pair with low <= high, got {tuple(value)!r}")
    return low, high


class RandomFlip:
    """Flip along each spatial axis with probability ``p`` (image and mask alike).

    Args:
        dims: spatial axes that may flip, counted among the spatial axes (0 = first spatial
            axis, -1 = width), distinct. Default: all of them.
        p: probability of flipping each axis, in [0, 1].

    Raises:
        TypeError: ``dims`` is not a tuple of ints, or ``p`` is not a number.
        ValueError: ``dims`` is empty, repeats an axis or names one a sample cannot have;
            ``p`` is NaN or outside [0, 1].

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> image, mask = torch.arange(4.).reshape(1, 2, 2), torch.tensor([[0, 1], [2, 3]])
        >>> flip = RandomFlip(dims=(-1,), p=1.0)
        >>> flip(image, mask)[1].tolist()
        [[1, 0], [3, 2]]
        >>> RandomFlip(p="0.5")
        Traceback (most recent call last):
        ...
        TypeError: p must be a real number, got str '0.5'
    """

    def __init__(self, dims: Sequence[int] | None = None, p: float = 0.5):
        self.dims = None if dims is None else _check_dims("dims", dims, None)
        self.p = check_number("p", p, 0.0, 1.0)

    def __call__(self, image, mask=None, generator=None):
        spatial = _check(image, mask, generator)
        dims = _spatial_dims(self.dims, spatial, "dims")
        # One draw per axis, always, so the stream stays aligned whatever the outcome.
        draws = _rand(len(dims), generator).tolist()
        chosen = [d for d, u in zip(dims, draws) if u < self.p]
        if chosen:
            image = image.flip(chosen)
            mask = mask.flip(chosen) if mask is not None else None
        return image, mask

    def __repr__(self) -> str:
        return f"RandomFlip(dims={self.dims}, p={self.p})"


class RandomRot90:
    """Rotate by a random multiple of 90° in one plane (image and mask alike).

    A 90° rotation moves every pixel onto another pixel exactly: no interpolation, so the
    mask stays a valid label map. In a non-square plane only 0° and 180° are drawn, which
    keep the shape.

    Args:
        dims: the plane, two different spatial axes (default ``(-2, -1)``: height and
            width, the axial plane of a ``(D, H, W)`` volume).

    Raises:
        TypeError: ``dims`` is not a pair of ints.
        ValueError: ``dims`` does not name two different axes a sample can have.

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> mask = torch.tensor([[1, 0], [0, 0]])
        >>> _, out = RandomRot90()(torch.zeros(1, 2, 2), mask, torch.Generator().manual_seed(1))
        >>> int(out.sum())
        1
    """

    def __init__(self, dims: Sequence[int] = (-2, -1)):
        self.dims = _check_dims("dims", dims, 2)

    def __call__(self, image, mask=None, generator=None):
        spatial = _check(image, mask, generator)
        a, b = _spatial_dims(self.dims, spatial, "dims")
        square = image.shape[a] == image.shape[b]
        k = int(torch.randint(4, (), generator=generator,
                              device=generator.device if generator is not None else None))
        if not square:
            k = 2 * (k % 2)  # 0 or 180 degrees keep a non-square plane's shape
        if k:
            image = torch.rot90(image, k, (a, b))
            mask = torch.rot90(mask, k, (a, b)) if mask is not None else None
        return image, mask

    def __repr__(self) -> str:
        return f"RandomRot90(dims={self.dims})"


class IntensityJitter:
    """Random gamma, scale and shift of the image intensities; the mask is untouched.

    Gamma acts on the image rescaled to [0, 1] by its own minimum and maximum and is mapped
    back, so it bends contrast without moving the range; then ``x * scale + shift``. Every
    step is increasing, so the order of intensities (and any threshold-defined structure)
    is kept. The image keeps its device and floating dtype.

    Args:
        scale: ``(low, high)`` range of the multiplicative factor, finite, ``0 < low <= high``.
        shift: ``(low, high)`` range of the additive offset, finite, ``low <= high``.
        gamma: ``(low, high)`` range of the gamma exponent, finite, ``0 < low <= high``
            (drawn log-uniformly, so 0.8 and 1.25 are equally likely).

    Raises:
        TypeError: a range is not a pair of numbers; at call, an image that is not a
            floating-point tensor.
        ValueError: a bound is NaN or infinite, ``low > high``, or a scale or gamma bound is
            not positive; at call, an image holding NaN or inf (its range would spread them
            to every pixel).

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> image = torch.linspace(0, 1, 5).reshape(1, 1, 5)
        >>> out, _ = IntensityJitter()(image, None, torch.Generator().manual_seed(0))
        >>> bool((out.diff() > 0).all())   # still increasing
        True
        >>> IntensityJitter(gamma=(float("nan"), 1))
        Traceback (most recent call last):
        ...
        ValueError: gamma[0] must be finite, got nan
    """

    def __init__(self, scale=(0.9, 1.1), shift=(-0.05, 0.05), gamma=(0.8, 1.25)):
        self.scale = _check_range("scale", scale, positive=True)
        self.shift = _check_range("shift", shift, positive=False)
        self.gamma = _check_range("gamma", gamma, positive=True)

    def __call__(self, image, mask=None, generator=None):
        _check(image, mask, generator)
        log_gamma = _uniform(generator, math.log(self.gamma[0]), math.log(self.gamma[1]))
        scale = _uniform(generator, *self.scale)
        shift = _uniform(generator, *self.shift)
        # One transfer of two numbers; the arithmetic below uses python floats, so no
        # tensor is made on the CPU and moved, and no float64 is asked of the device.
        low, high = torch.stack([image.amin(), image.amax()]).tolist()
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(
                f"image must be finite: its minimum is {low} and its maximum {high}; the "
                "gamma step rescales by that range, so a NaN or inf would reach every pixel")
        if high > low:
            unit = (image - low) / (high - low)
            image = low + (high - low) * unit.pow(math.exp(log_gamma))
        return image * scale + shift, mask

    def __repr__(self) -> str:
        return f"IntensityJitter(scale={self.scale}, shift={self.shift}, gamma={self.gamma})"


def _apply(transform, image, mask, generator):
    """``transform(image, mask, generator)``, checking that it returns ``(image, mask)``."""
    out = transform(image, mask, generator)
    if not (isinstance(out, tuple) and len(out) == 2):
        got = (f"a single tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor)
               else describe(out))
        raise TypeError(f"transform {transform!r} must return a pair (image, mask), got {got}")
    return out


class Compose:
    """Apply transforms one after the other, all drawing from the same generator.

    Args:
        transforms: a list or tuple of transforms, callables
            ``t(image, mask, generator) -> (image, mask)``.

    Example:
        >>> t = Compose([RandomFlip(), RandomRot90()])
        >>> image, mask = torch.rand(1, 4, 4), torch.zeros(4, 4, dtype=torch.long)
        >>> out, out_mask = t(image, mask, torch.Generator().manual_seed(0))
        >>> out.shape, out_mask.shape
        (torch.Size([1, 4, 4]), torch.Size([4, 4]))
    """

    def __init__(self, transforms: Sequence[Transform]):
        if isinstance(transforms, (str, bytes)) or not isinstance(transforms, Sequence):
            raise TypeError(f"transforms must be a list of transforms, got {describe(transforms)}")
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"transforms must be callables, but transforms[{i}] is "
                                f"{describe(t)}")

    def __call__(self, image, mask=None, generator=None):
        _check(image, mask, generator)
        for t in self.transforms:
            image, mask = _apply(t, image, mask, generator)
        return image, mask

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


def augment(image: torch.Tensor, mask: torch.Tensor | None = None,
            generator: torch.Generator | None = None):
    """The default augmentation: random flips, a random 90° turn in the last two axes, jitter.

    Args:
        image: ``(C, H, W)`` or ``(C, D, H, W)`` floating-point tensor, finite.
        mask: ``(H, W)`` or ``(D, H, W)`` label map on the image's device, or None.
        generator: a ``torch.Generator``, the source of randomness; None uses torch's global
            generator (reproducible under ``mednotes.seed_everything``).

    Shape:
        Unchanged (in a non-square plane only 0° and 180° turns are drawn). The image keeps
        its device and dtype, the mask its device and dtype.

    Raises:
        TypeError: ``image`` is not a floating-point tensor, ``mask`` not a tensor or None,
            ``generator`` not a ``torch.Generator`` or None.
        ValueError: ``image`` is not 3D or 4D, is empty or holds NaN/inf; ``mask`` does not
            have the image's spatial shape or lives on another device.

    Explained in: Data for the book: labelled datasets.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> image = torch.rand(1, 8, 8); mask = (image[0] > 0.5).long()
        >>> out, out_mask = augment(image, mask, g)
        >>> out.shape, int(out_mask.sum()) == int(mask.sum())   # pixels moved, none lost
        (torch.Size([1, 8, 8]), True)
    """
    return DEFAULT(image, mask, generator)


DEFAULT = Compose([RandomFlip(), RandomRot90(), IntensityJitter()])

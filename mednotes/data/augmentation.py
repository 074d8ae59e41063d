"""Augmentations for segmentation: the image and its mask move together.

A transform is a callable ``t(image, mask=None, generator=None) -> (image, mask)`` on one
sample: ``image`` is ``(C, *spatial)`` and ``mask`` is ``(*spatial)`` (or None for a
classification sample). Spatial transforms (flips, 90° rotations) move pixels, so they are
applied to both with the same random draw; intensity transforms touch the image only.
Only exact pixel moves are used, so class indices in the mask are never interpolated.

Randomness comes from the ``torch.Generator`` passed in, never from hidden state: the same
generator state gives the same result. The datasets in :mod:`mednotes.data` build that
generator from ``(seed, epoch, index)`` (see :func:`item_generator`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

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
    state = np.random.SeedSequence([seed, epoch, index, 0x5EED]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) >> 1)


def _check(image, mask) -> int:
    """Validate one sample; return its number of spatial dims."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if image.ndim not in (3, 4):
        raise ValueError(
            f"image must be (C, H, W) or (C, D, H, W), got {image.ndim} dims {tuple(image.shape)}"
        )
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}")
        if tuple(mask.shape) != tuple(image.shape[1:]):
            raise ValueError(
                f"mask shape {tuple(mask.shape)} must equal the image's spatial shape "
                f"{tuple(image.shape[1:])}"
            )
    return image.ndim - 1


def _uniform(generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _spatial_dims(dims, spatial: int, name: str) -> list[int]:
    """Turn dims given relative to the spatial axes (negative from the end) into -k indices."""
    if dims is None:
        return list(range(-spatial, 0))
    out = []
    for d in dims:
        if not -spatial <= d < spatial:
            raise ValueError(f"{name} {tuple(dims)} is out of range for {spatial} spatial dims")
        out.append(d - spatial if d >= 0 else d)  # 0 = first spatial dim = -spatial
    return out


class RandomFlip:
    """Flip along each spatial axis with probability ``p`` (image and mask alike).

    Args:
        dims: spatial axes that may flip, counted among the spatial axes (0 = first spatial
            axis, -1 = width). Default: all of them.
        p: probability of flipping each axis.

    Explained in: Data for the book.

    Example:
        >>> image, mask = torch.arange(4.).reshape(1, 2, 2), torch.tensor([[0, 1], [2, 3]])
        >>> flip = RandomFlip(dims=(-1,), p=1.0)
        >>> flip(image, mask)[1].tolist()
        [[1, 0], [3, 2]]
    """

    def __init__(self, dims: Sequence[int] | None = None, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        self.dims, self.p = (tuple(dims) if dims is not None else None), float(p)

    def __call__(self, image, mask=None, generator=None):
        spatial = _check(image, mask)
        dims = _spatial_dims(self.dims, spatial, "dims")
        # One draw per axis, always, so the stream stays aligned whatever the outcome.
        draws = torch.rand(len(dims), generator=generator)
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
        dims: the plane, two spatial axes (default ``(-2, -1)``: height and width, the axial
            plane of a ``(D, H, W)`` volume).

    Explained in: Data for the book.

    Example:
        >>> mask = torch.tensor([[1, 0], [0, 0]])
        >>> _, out = RandomRot90()(torch.zeros(1, 2, 2), mask, torch.Generator().manual_seed(1))
        >>> int(out.sum())
        1
    """

    def __init__(self, dims: Sequence[int] = (-2, -1)):
        if len(tuple(dims)) != 2 or dims[0] == dims[1]:
            raise ValueError(f"dims must name two different spatial axes, got {tuple(dims)!r}")
        self.dims = tuple(dims)

    def __call__(self, image, mask=None, generator=None):
        spatial = _check(image, mask)
        a, b = _spatial_dims(self.dims, spatial, "dims")
        square = image.shape[a] == image.shape[b]
        k = int(torch.randint(4, (), generator=generator))
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
    is kept.

    Args:
        scale: range of the multiplicative factor.
        shift: range of the additive offset.
        gamma: range of the gamma exponent (drawn log-uniformly, so 0.8 and 1.25 are
            equally likely).

    Explained in: Data for the book.

    Example:
        >>> image = torch.linspace(0, 1, 5).reshape(1, 1, 5)
        >>> out, _ = IntensityJitter()(image, None, torch.Generator().manual_seed(0))
        >>> bool((out.diff() > 0).all())   # still increasing
        True
    """

    def __init__(self, scale=(0.9, 1.1), shift=(-0.05, 0.05), gamma=(0.8, 1.25)):
        for name, value in (("scale", scale), ("shift", shift), ("gamma", gamma)):
            if len(tuple(value)) != 2 or value[0] > value[1]:
                raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
        if scale[0] <= 0 or gamma[0] <= 0:
            raise ValueError(f"scale and gamma must be positive, got {scale!r} and {gamma!r}")
        self.scale, self.shift, self.gamma = tuple(scale), tuple(shift), tuple(gamma)

    def __call__(self, image, mask=None, generator=None):
        _check(image, mask)
        log_gamma = _uniform(generator, np.log(self.gamma[0]), np.log(self.gamma[1]))
        scale = _uniform(generator, *self.scale)
        shift = _uniform(generator, *self.shift)
        low, high = image.min(), image.max()
        if high > low:
            unit = (image - low) / (high - low)
            image = low + (high - low) * unit.pow(float(np.exp(log_gamma)))
        return image * scale + shift, mask

    def __repr__(self) -> str:
        return f"IntensityJitter(scale={self.scale}, shift={self.shift}, gamma={self.gamma})"


class Compose:
    """Apply transforms one after the other, all drawing from the same generator.

    Example:
        >>> t = Compose([RandomFlip(), RandomRot90()])
        >>> image, mask = torch.rand(1, 4, 4), torch.zeros(4, 4, dtype=torch.long)
        >>> out, out_mask = t(image, mask, torch.Generator().manual_seed(0))
        >>> out.shape, out_mask.shape
        (torch.Size([1, 4, 4]), torch.Size([4, 4]))
    """

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"transforms must be callables, got {type(t).__name__}")

    def __call__(self, image, mask=None, generator=None):
        for t in self.transforms:
            image, mask = t(image, mask, generator)
        return image, mask

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


def augment(image: torch.Tensor, mask: torch.Tensor | None = None,
            generator: torch.Generator | None = None):
    """The default augmentation: random flips, a random 90° turn in the last two axes, jitter.

    Args:
        image: ``(C, H, W)`` or ``(C, D, H, W)`` float tensor.
        mask: ``(H, W)`` or ``(D, H, W)`` label map, or None.
        generator: source of randomness; None uses torch's global generator (reproducible
            under ``mednotes.seed_everything``).

    Shape:
        Unchanged (in a non-square plane only 0° and 180° turns are drawn).

    Explained in: Data for the book.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> image = torch.rand(1, 8, 8); mask = (image[0] > 0.5).long()
        >>> out, out_mask = augment(image, mask, g)
        >>> out.shape, int(out_mask.sum()) == int(mask.sum())   # pixels moved, none lost
        (torch.Size([1, 8, 8]), True)
    """
    return DEFAULT(image, mask, generator)


DEFAULT = Compose([RandomFlip(), RandomRot90(), IntensityJitter()])

"""Stain tools for brightfield histology: colour deconvolution, stain augmentation, Macenko.

Light passing through a stained section is absorbed by each stain in proportion to how much
of it is there (Beer-Lambert): the *optical density* ``OD = -log10(I / I0)`` of a pixel,
``I0`` the background (white) intensity, is a sum over the stains of each stain's amount
times its colour vector. Colour deconvolution (Ruifrok & Johnston, 2001) inverts that sum
with a fixed matrix of colour vectors; Macenko et al. (2009) estimate the two vectors of
haematoxylin and eosin from the image itself, which lets one slide's stains be mapped onto
another's (stain normalisation). Stain augmentation (Tellez et al., 2018) goes the other
way: it scales and shifts each stain's amount at random, so that a network sees many
stainings of the same tissue.

Everything here is torch, differentiable where it is smooth, and runs on any device.
Images are RGB, channels first, ``(3, H, W)`` or ``(N, 3, H, W)``, with values in [0, 1].

Explained in: Pathology: patch classification on histology.

Tested against: scikit-image's ``rgb2hed``/``hed2rgb`` (forward), ``torch.autograd.gradcheck``
and an independent formulation (backward), a stain matrix recovered from an image
synthesised with it (Macenko).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from mednotes._checks import check_number, check_tensor, describe
from mednotes.data.augmentation import _check, _check_range, _rand

__all__ = ["HED_FROM_RGB", "RGB_FROM_HED", "MacenkoNormalizer", "StainJitter", "hed_to_rgb",
           "macenko_normalize", "macenko_stains", "optical_density", "rgb_to_hed",
           "stain_jitter", "unmix"]

#: Ruifrok & Johnston's colour vectors, one row per stain (haematoxylin, eosin, DAB), as
#: scikit-image's ``skimage.color.rgb_from_hed``: row ``k`` is the optical density that one
#: unit of stain ``k`` adds to the red, green and blue channels.
RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
#: Its inverse, scikit-image's ``hed_from_rgb``: optical density (as a row) to stain amounts.
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)
#: scikit-image clamps intensities at 1e-6 and divides the natural log by ``log(1e-6)``, so
#: its stain amounts are ``OD / 6`` in base-10 units; the same scale is used here.
_FLOOR = 1e-6
_LOG_FLOOR = math.log(_FLOOR)


def _check_rgb(name: str, image: object) -> torch.Tensor:
    """A floating ``(3, H, W)`` or ``(N, 3, H, W)`` tensor, non-empty."""
    check_tensor(name, image)
    if image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"{name} must be (3, H, W) or (N, 3, H, W) with 3 colour channels "
                         f"(RGB, or H, E, D), got shape {tuple(image.shape)}")
    if 0 in image.shape:
        raise ValueError(f"{name} is empty: shape {tuple(image.shape)}")
    return image


def _matrix(matrix: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    # float64 arithmetic stays float64; float32, bf16 and half get the float32 matrix
    dtype = like.dtype if like.dtype == torch.float64 else torch.float32
    return torch.as_tensor(matrix, dtype=dtype, device=like.device)


def _mix(image: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``out[..., d, h, w] = sum_c image[..., c, h, w] * matrix[c, d]``: a row vector per pixel
    times the matrix, the pixel layout of scikit-image."""
    return torch.einsum("...chw,cd->...dhw", image, matrix.to(image.dtype))


def optical_density(image: torch.Tensor, background: float = 1.0,
                    offset: float = 0.0) -> torch.Tensor:
    """Optical density ``-log10((I + offset) / background)`` of every pixel and channel.

    Beer-Lambert: a stain layer that lets through a fraction ``t`` of the light has optical
    density ``-log10 t``, and densities of stacked stains add. ``offset`` is the ``+ 1``
    that 8-bit pipelines add so that a black pixel (0) has a finite density; intensities
    below ``1e-6 * background`` are clamped there (density at most 6), as scikit-image does.

    Args:
        image: intensities, any shape, floating point (RGB in [0, 1], or 8-bit values as
            floats with ``background=255``).
        background: the intensity of an empty (white) pixel, ``I0``, > 0.
        offset: added to every intensity before the ratio, >= 0.

    Shape:
        the input's shape.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> optical_density(torch.tensor([1.0, 0.1, 0.01]))
        tensor([-0., 1., 2.])
        >>> optical_density(torch.tensor([239.0]), background=240.0, offset=1.0)
        tensor([-0.])
    """
    check_tensor("image", image)
    background = check_number("background", background, 0.0, open_low=True)
    offset = check_number("offset", offset, 0.0)
    ratio = ((image + offset) / background).clamp(min=_FLOOR)
    return -torch.log10(ratio)


def rgb_to_hed(image: torch.Tensor) -> torch.Tensor:
    """Colour deconvolution: RGB to the amounts of haematoxylin, eosin and DAB per pixel.

    Computes scikit-image's ``rgb2hed`` (Ruifrok & Johnston's matrix): intensities are
    clamped at ``1e-6``, turned into optical density in scikit-image's units (``OD / 6``),
    multiplied by ``HED_FROM_RGB``, and negative amounts are set to 0.

    Args:
        image: RGB in [0, 1], floating point.

    Shape:
        ``(3, H, W)`` or ``(N, 3, H, W)`` -> the same, channels H, E, D.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> white = torch.ones(3, 2, 2)
        >>> rgb_to_hed(white).abs().max().item()
        0.0
        >>> hed = torch.zeros(3, 1, 1); hed[0] = 0.05      # haematoxylin only
        >>> torch.allclose(rgb_to_hed(hed_to_rgb(hed)), hed, atol=1e-6)
        True
    """
    _check_rgb("image", image)
    density = torch.log(image.clamp(min=_FLOOR)) / _LOG_FLOOR
    return _mix(density, _matrix(HED_FROM_RGB, image)).clamp(min=0)


def hed_to_rgb(hed: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`rgb_to_hed`: stain amounts to RGB, as scikit-image's ``hed2rgb``.

    ``I = exp(-6 ln(10) * hed @ RGB_FROM_HED)``, clipped to [0, 1] (only negative amounts can
    push it above 1).

    Args:
        hed: amounts of haematoxylin, eosin and DAB in scikit-image's units.

    Shape:
        ``(3, H, W)`` or ``(N, 3, H, W)`` -> the same, channels R, G, B.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> hed_to_rgb(torch.zeros(3, 1, 1)).flatten().tolist()     # no stain: white
        [1.0, 1.0, 1.0]
    """
    _check_rgb("hed", hed)
    log_rgb = _mix(hed * _LOG_FLOOR, _matrix(RGB_FROM_HED, hed))
    return torch.exp(log_rgb).clamp(0, 1)


def unmix(density: torch.Tensor, stains: torch.Tensor) -> torch.Tensor:
    """The amount of each stain in each pixel: least squares of ``density = stains @ amounts``.

    With as many stains as channels this is the solution of the linear system (colour
    deconvolution); with two stains in three channels, the least-squares fit.

    Args:
        density: optical densities, ``(3, H, W)`` or ``(N, 3, H, W)``.
        stains: ``(3, S)``, column ``k`` the optical-density vector of stain ``k``.

    Shape:
        ``(S, H, W)`` or ``(N, S, H, W)``.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> stains = torch.tensor([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]])
        >>> density = (stains @ torch.tensor([0.3, 0.1])).reshape(3, 1, 1)
        >>> unmix(density, stains).flatten()
        tensor([0.3000, 0.1000])
    """
    _check_rgb("density", density)
    check_tensor("stains", stains)
    if stains.dim() != 2 or stains.shape[0] != 3 or not 1 <= stains.shape[1] <= 3:
        raise ValueError(f"stains must be (3, S) with 1 to 3 stain vectors as columns, got "
                         f"shape {tuple(stains.shape)}")
    if stains.device != density.device:
        raise ValueError(f"stains is on {stains.device}, density on {density.device}")
    flat = density.movedim(-3, -1).reshape(-1, 3).T.to(stains.dtype)   # (3, pixels)
    amounts = torch.linalg.lstsq(stains, flat).solution                  # (S, pixels)
    shape = density.shape[:-3] + density.shape[-2:] + (stains.shape[1],)
    return amounts.T.reshape(shape).movedim(-1, -3).to(density.dtype)


# ------------------------------------------------------------------ stain augmentation


def stain_jitter(image: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Scale and shift each stain's amount, then go back to RGB (Tellez et al.'s HED jitter).

    ``hed' = hed * scale + shift`` per stain, with ``hed = rgb_to_hed(image)``; returns
    ``hed_to_rgb(hed')``. Differentiable in the image, ``scale`` and ``shift``.

    Args:
        image: RGB in [0, 1].
        scale: factor per stain (H, E, D): shape ``(3,)``, or ``(N, 3)`` for a batch, one row
            per image.
        shift: added per stain after scaling, same shapes as ``scale``.

    Shape:
        ``(3, H, W)`` or ``(N, 3, H, W)`` -> the same.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> hed = torch.zeros(3, 4, 4); hed[0] = 0.05; hed[1] = 0.02
        >>> darker = stain_jitter(hed_to_rgb(hed), torch.tensor([2.0, 1.0, 1.0]), torch.zeros(3))
        >>> rgb_to_hed(darker)[:2, 0, 0]
        tensor([0.1000, 0.0200])
    """
    _check_rgb("image", image)
    factors = []
    for name, value in (("scale", scale), ("shift", shift)):
        check_tensor(name, value)
        want = ((3,), (image.shape[0], 3)) if image.dim() == 4 else ((3,),)
        if tuple(value.shape) not in want:
            raise ValueError(f"{name} must have shape {' or '.join(str(w) for w in want)}, one "
                             f"value per stain (H, E, D), got {tuple(value.shape)}")
        if value.device != image.device:
            raise ValueError(f"{name} is on {value.device}, image on {image.device}")
        factors.append(value[..., None, None])
    return hed_to_rgb(rgb_to_hed(image) * factors[0] + factors[1])


class StainJitter:
    """Stain augmentation as a sample transform: a random :func:`stain_jitter` per image.

    Each stain's factor is drawn from ``U(scale)`` and its shift from ``U(shift)``,
    independently for H, E and D (Tellez et al. draw ``1 + U(-σ, σ)`` and ``U(-σ, σ)``).
    The call follows :mod:`mednotes.data.augmentation`'s protocol,
    ``t(image, mask=None, generator=None) -> (image, mask)``; the mask is untouched.

    Args:
        scale: ``(low, high)`` range of the factors, ``0 < low <= high``.
        shift: ``(low, high)`` range of the shifts, in scikit-image's stain units (a nucleus
            holds about 0.1 of haematoxylin, stroma a few hundredths of eosin).

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> jitter = StainJitter(scale=(0.5, 2.0), shift=(0.0, 0.0))
        >>> image = hed_to_rgb(torch.full((3, 4, 4), 0.03))
        >>> out, _ = jitter(image, None, torch.Generator().manual_seed(0))
        >>> out.shape, bool((out - image).abs().max() > 0.01)
        (torch.Size([3, 4, 4]), True)
    """

    def __init__(self, scale=(0.8, 1.25), shift=(-0.005, 0.005)):
        self.scale = _check_range("scale", scale, positive=True)
        self.shift = _check_range("shift", shift, positive=False)

    def __call__(self, image, mask=None, generator=None):
        _check(image, mask, generator)
        _check_rgb("image", image)
        low = torch.tensor([self.scale[0], self.shift[0]], dtype=torch.float64)
        high = torch.tensor([self.scale[1], self.shift[1]], dtype=torch.float64)
        draws = _rand((2, 3), generator).to(torch.float64)   # on the generator's device
        values = low[:, None] + (high - low)[:, None] * draws.cpu()
        dtype = image.dtype if image.dtype == torch.float64 else torch.float32
        values = values.to(image.device, dtype)
        return stain_jitter(image, values[0], values[1]).to(image.dtype), mask

    def __repr__(self) -> str:
        return f"StainJitter(scale={self.scale}, shift={self.shift})"


# ------------------------------------------------------------------ Macenko


def _unit_positive(vector: torch.Tensor) -> torch.Tensor:
    vector = vector / vector.norm()
    return -vector if vector.sum() < 0 else vector


#: Fewer tissue pixels than this and an image's stains are not estimated.
MIN_TISSUE_PIXELS = 10


def _stains_one(image: torch.Tensor, background: float, beta: float, alpha: float,
                strict: bool = True):
    density = optical_density(image.double(), background).reshape(3, -1)   # (3, P)
    tissue = density[:, density.norm(dim=0) > beta]
    if tissue.shape[1] < MIN_TISSUE_PIXELS:
        if not strict:
            return None
        raise ValueError(f"image has only {tissue.shape[1]} pixels with optical density above "
                         f"beta={beta}; Macenko's method needs at least {MIN_TISSUE_PIXELS} "
                         "pixels of stained tissue (is the image in [0, 1] with a white "
                         "background?)")
    _, vectors = torch.linalg.eigh(torch.cov(tissue))          # ascending eigenvalues
    plane = torch.stack([_unit_positive(vectors[:, 2]), vectors[:, 1]], 1)   # (3, 2)
    projected = plane.T @ tissue
    angle = torch.atan2(projected[1], projected[0])
    low, high = torch.quantile(angle, torch.tensor([alpha / 100, 1 - alpha / 100],
                                                   dtype=angle.dtype, device=angle.device))
    ends = [_unit_positive(plane @ torch.stack([torch.cos(a), torch.sin(a)])) for a in (low, high)]
    # haematoxylin absorbs more red than eosin does: it goes first
    stains = torch.stack(ends if ends[0][0] > ends[1][0] else ends[::-1], 1)   # (3, 2)
    amounts = torch.linalg.lstsq(stains, density).solution                     # (2, P)
    top = torch.quantile(amounts, 0.99, dim=1)
    return stains, top


def _check_macenko(background, beta, alpha):
    background = check_number("background", background, 0.0, open_low=True)
    beta = check_number("beta", beta, 0.0)
    alpha = check_number("alpha", alpha, 0.0, 50.0, open_high=True)
    return background, beta, alpha


def macenko_stains(image: torch.Tensor, *, background: float = 1.0, beta: float = 0.15,
                   alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate an image's haematoxylin and eosin vectors and its largest stain amounts.

    Macenko et al.'s method: the optical densities of the tissue pixels (those whose OD
    vector is longer than ``beta``; the paper thresholds each channel, which would drop pale
    eosin, whose red OD is close to 0) lie near the plane of the two stain vectors. Project
    them onto the plane of the two largest eigenvectors of their covariance, take the
    ``alpha`` and ``100 - alpha`` percentiles of their angle as the two extreme stains, the
    one with more red absorption as haematoxylin. The amounts of every pixel come from least
    squares, and their 99th percentile per stain is the "maximum concentration".

    Args:
        image: RGB in [0, 1], one image or a batch.
        background: the intensity of an empty pixel, ``I0``.
        beta: optical-density length below which a pixel counts as background.
        alpha: percentile (in %) of the angles taken as the extreme stains, in [0, 50).

    Returns:
        ``(stains, max_amounts)``: unit OD vectors as columns (H, E), ``(3, 2)``, and the
        99th percentiles of the amounts, ``(2,)``; for a batch ``(N, 3, 2)`` and ``(N, 2)``.
        float64 for a float64 image, else float32.

    Raises:
        ValueError: an image with fewer than 10 tissue pixels.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> stains = torch.tensor([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]])
        >>> stains = stains / stains.norm(dim=0)
        >>> amounts = torch.rand(2, 400, generator=torch.Generator().manual_seed(0))
        >>> amounts[:, :100] *= torch.tensor([[1.0], [0.0]])      # some pure haematoxylin
        >>> amounts[:, 100:200] *= torch.tensor([[0.0], [1.0]])   # some pure eosin
        >>> image = (10 ** -(stains @ amounts)).reshape(3, 20, 20)
        >>> found, top = macenko_stains(image)
        >>> torch.allclose(found, stains, atol=1e-3)
        True
    """
    _check_rgb("image", image)
    background, beta, alpha = _check_macenko(background, beta, alpha)
    dtype = torch.float64 if image.dtype == torch.float64 else torch.float32
    if image.dim() == 3:
        stains, top = _stains_one(image, background, beta, alpha)
        return stains.to(dtype), top.to(dtype)
    pairs = [_stains_one(one, background, beta, alpha) for one in image]
    return (torch.stack([s for s, _ in pairs]).to(dtype),
            torch.stack([t for _, t in pairs]).to(dtype))


def _check_target(stains, max_amounts, device):
    check_tensor("stains", stains)
    check_tensor("max_amounts", max_amounts)
    if tuple(stains.shape) != (3, 2):
        raise ValueError(f"stains must be (3, 2), the H and E vectors as columns (from "
                         f"macenko_stains of one image), got {tuple(stains.shape)}")
    if tuple(max_amounts.shape) != (2,) or not bool((max_amounts > 0).all()):
        raise ValueError(f"max_amounts must hold 2 positive numbers (from macenko_stains), got "
                         f"{describe(max_amounts)}")
    return stains.to(device, torch.float64), max_amounts.to(device, torch.float64)


def macenko_normalize(image: torch.Tensor, stains: torch.Tensor, max_amounts: torch.Tensor, *,
                      background: float = 1.0, beta: float = 0.15,
                      alpha: float = 1.0) -> torch.Tensor:
    """Give ``image`` the stain vectors and amounts of a target (Macenko normalisation).

    The image's own vectors and 99th-percentile amounts are estimated with
    :func:`macenko_stains`; every pixel's amounts are rescaled so that those percentiles
    become ``max_amounts``, and recombined with the target's ``stains``:
    ``I = background * 10 ** -(stains @ amounts)``, clipped to ``[0, background]``.
    An image with fewer than 10 tissue pixels (an empty tile: nothing to estimate the
    stains from) is returned unchanged.

    Args:
        image: RGB in [0, 1], one image or a batch (each image gets its own estimate).
        stains, max_amounts: the target's, from :func:`macenko_stains` of one image.
        background, beta, alpha: as for :func:`macenko_stains`.

    Shape:
        ``(3, H, W)`` or ``(N, 3, H, W)`` -> the same, the image's dtype.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> from mednotes.data import histology_patches
        >>> target = histology_patches(1, size=64)[0][0]
        >>> out = macenko_normalize(target, *macenko_stains(target))
        >>> bool((out - target).abs().mean() < 0.02)     # the target maps (almost) to itself
        True
    """
    _check_rgb("image", image)
    stains, max_amounts = _check_target(stains, max_amounts, image.device)
    background, beta, alpha = _check_macenko(background, beta, alpha)
    single = image.dim() == 3
    out = []
    for one in image[None] if single else image:
        estimate = _stains_one(one, background, beta, alpha, strict=False)
        if estimate is None:      # an empty tile: no stain to map
            out.append(one.clone())
            continue
        own, top = estimate
        density = optical_density(one.double(), background).reshape(3, -1)
        amounts = torch.linalg.lstsq(own, density).solution * (max_amounts / top)[:, None]
        rgb = background * torch.pow(10.0, -(stains @ amounts))
        out.append(rgb.clamp(0, background).reshape(one.shape).to(image.dtype))
    return out[0] if single else torch.stack(out)


class MacenkoNormalizer(nn.Module):
    """:func:`macenko_normalize` towards a target image fitted once (``.fit(target)``).

    The target's stain vectors and amounts are buffers, so they move with ``.to(device)``
    and are saved in the state dict.

    Args:
        background, beta, alpha: as for :func:`macenko_stains`.

    Shape:
        ``(3, H, W)`` or ``(N, 3, H, W)`` -> the same.

    Explained in: Pathology: patch classification on histology.

    Example:
        >>> from mednotes.data import histology_patches
        >>> data = histology_patches(2, size=64)
        >>> norm = MacenkoNormalizer().fit(data[0][0])
        >>> norm(torch.stack([data[0][0], data[1][0]])).shape
        torch.Size([2, 3, 64, 64])
    """

    def __init__(self, *, background: float = 1.0, beta: float = 0.15, alpha: float = 1.0):
        super().__init__()
        self.background, self.beta, self.alpha = _check_macenko(background, beta, alpha)
        self.register_buffer("stains", torch.full((3, 2), float("nan"), dtype=torch.float64))
        self.register_buffer("max_amounts", torch.full((2,), float("nan"), dtype=torch.float64))

    def fit(self, target: torch.Tensor) -> MacenkoNormalizer:
        """Estimate the target's stains (one image, ``(3, H, W)``); returns ``self``."""
        _check_rgb("target", target)
        if target.dim() != 3:
            raise ValueError(f"target must be one image (3, H, W), got shape "
                             f"{tuple(target.shape)}")
        stains, top = macenko_stains(target.double(), background=self.background,
                                     beta=self.beta, alpha=self.alpha)
        self.stains.copy_(stains)
        self.max_amounts.copy_(top)
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if torch.isnan(self.max_amounts).any():
            raise RuntimeError("MacenkoNormalizer has no target yet: call .fit(target) first")
        return macenko_normalize(image, self.stains, self.max_amounts,
                                 background=self.background, beta=self.beta, alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"background={self.background}, beta={self.beta}, alpha={self.alpha}"


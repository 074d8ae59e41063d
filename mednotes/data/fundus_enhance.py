"""Fundus enhancement: the green channel and CLAHE, the classical first steps before vessels.

In a colour fundus photograph the vessels show best in green: red light passes through the
retina and washes them out, blue is dark and noisy, and haemoglobin absorbs green strongly.
The illumination falls off from the centre to the rim, so a global contrast stretch brightens
the centre and leaves faint vessels at the rim as they were. CLAHE (contrast-limited adaptive
histogram equalisation) equalises the histogram of each tile of the image separately and
interpolates between tiles; the clip limit caps how much any grey level can be stretched, so
that noise in flat regions is not blown up.

- :func:`green_channel`: ``(3, H, W)`` or ``(N, 3, H, W)`` RGB -> one channel.
- :func:`clahe`: scikit-image's ``equalize_adapthist`` on every channel of a tensor.
- :class:`FundusEnhance`: both, as a transform for the datasets of :mod:`mednotes.data`
  (``transform(image, mask, generator)``), e.g. ``retinal_vessels(..., transform=FundusEnhance())``.
"""

from __future__ import annotations

import numpy as np
import torch

from mednotes._checks import check_int, check_number, check_tensor, describe, is_int

__all__ = ["FundusEnhance", "clahe", "green_channel"]


def green_channel(image: torch.Tensor) -> torch.Tensor:
    """The green channel of an RGB image or batch, keeping the channel dim.

    Args:
        image: ``(3, H, W)`` or ``(N, 3, H, W)`` RGB, floating point.

    Returns:
        ``(1, H, W)`` or ``(N, 1, H, W)``: a view of channel 1.

    Explained in: Ophthalmology: retinal vessel segmentation.

    Example:
        >>> rgb = torch.stack([torch.zeros(2, 2), torch.ones(2, 2), torch.zeros(2, 2)])
        >>> green_channel(rgb)
        tensor([[[1., 1.],
                 [1., 1.]]])
    """
    check_tensor("image", image)
    if image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"image must be RGB, (3, H, W) or (N, 3, H, W), got shape "
                         f"{tuple(image.shape)}")
    return image[..., 1:2, :, :]


def _kernel_size(kernel_size) -> int | tuple[int, int] | None:
    if kernel_size is None:
        return None
    if is_int(kernel_size):
        return check_int("kernel_size", kernel_size, 2)
    if isinstance(kernel_size, (tuple, list)) and len(kernel_size) == 2 \
            and all(is_int(k) for k in kernel_size):
        return tuple(check_int("kernel_size", k, 2) for k in kernel_size)
    raise TypeError(f"kernel_size must be None, an int >= 2 or a pair of ints, "
                    f"got {describe(kernel_size)}")


def clahe(image: torch.Tensor, clip_limit: float = 0.01, kernel_size=None,
          nbins: int = 256) -> torch.Tensor:
    """Contrast-limited adaptive histogram equalisation of every channel (2-D images).

    Each ``(H, W)`` plane goes through ``skimage.exposure.equalize_adapthist`` on its own,
    so the result is the same as calling scikit-image plane by plane. Like scikit-image,
    the plane is first stretched to its own minimum and maximum, quantised to 16 bits, and
    the result is stretched to [0, 1] again.

    Args:
        image: ``(C, H, W)`` or ``(N, C, H, W)``, floating point, values in [0, 1].
        clip_limit: in (0, 1]: how far a tile's histogram may be stretched (scikit-image's
            default 0.01; larger: more contrast and more noise; 1: plain adaptive
            equalisation).
        kernel_size: the tile size in pixels, an int or ``(height, width)``; None for 1/8 of
            each side (scikit-image's default).
        nbins: grey levels of the histograms.

    Returns:
        A tensor of the input's shape, dtype and device, values in [0, 1].

    Explained in: Ophthalmology: retinal vessel segmentation.

    Tested against: ``skimage.exposure.equalize_adapthist`` called on each plane.

    Example:
        >>> ramp = torch.linspace(0.2, 0.4, 64).repeat(64, 1)[None]    # (1, 64, 64)
        >>> out = clahe(ramp)
        >>> out.shape, round(out.min().item(), 3), round(out.max().item(), 3)
        (torch.Size([1, 64, 64]), 0.0, 1.0)
    """
    from skimage.exposure import equalize_adapthist

    check_tensor("image", image)
    if image.dim() not in (3, 4):
        raise ValueError(f"image must be (C, H, W) or (N, C, H, W), got shape "
                         f"{tuple(image.shape)}")
    if 0 in image.shape:
        raise ValueError(f"image is empty: shape {tuple(image.shape)}")
    if min(image.shape[-2:]) < 2:
        raise ValueError(f"image must be at least 2×2 pixels, got shape {tuple(image.shape)}")
    clip_limit = check_number("clip_limit", clip_limit, 0.0, 1.0, open_low=True)
    kernel_size = _kernel_size(kernel_size)
    nbins = check_int("nbins", nbins, 2)
    planes = image.detach().to("cpu", torch.float64).reshape(-1, *image.shape[-2:]).numpy()
    if not np.isfinite(planes).all():
        raise ValueError("image holds NaN or inf values")
    if planes.min() < 0 or planes.max() > 1:
        raise ValueError(f"image values must lie in [0, 1], got [{planes.min():.3g}, "
                         f"{planes.max():.3g}]")
    out = np.stack([equalize_adapthist(plane, kernel_size=kernel_size, clip_limit=clip_limit,
                                       nbins=nbins) for plane in planes])
    return torch.from_numpy(out).reshape(image.shape).to(image.device, image.dtype)


class FundusEnhance:
    """The green channel, then CLAHE: a transform for :mod:`mednotes.data`'s datasets.

    Called as ``transform(image, mask=None, generator=None)`` on one ``(3, H, W)`` RGB image,
    it returns ``(enhanced, mask)`` with ``enhanced`` of shape ``(1, H, W)``; the mask and the
    generator pass through untouched (the transform is deterministic). Outside the camera's
    field of view (pixels that are 0 in every colour) the result is set to 0 again, so that
    the black rim is not equalised into grey.

    Args:
        clip_limit: as for :func:`clahe`.
        kernel_size: as for :func:`clahe`.

    Explained in: Ophthalmology: retinal vessel segmentation.

    Example:
        >>> from mednotes.data import retinal_vessels
        >>> ds = retinal_vessels(2, size=64, transform=FundusEnhance())
        >>> image, mask = ds[0]
        >>> image.shape, mask.shape
        (torch.Size([1, 64, 64]), torch.Size([64, 64]))
    """

    def __init__(self, clip_limit: float = 0.01, kernel_size=None):
        self.clip_limit = check_number("clip_limit", clip_limit, 0.0, 1.0, open_low=True)
        self.kernel_size = _kernel_size(kernel_size)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None = None,
                 generator: torch.Generator | None = None):
        check_tensor("image", image)
        if image.dim() != 3:
            raise ValueError(f"image must be one RGB image (3, H, W), got shape "
                             f"{tuple(image.shape)}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, "
                            f"got {describe(generator)}")
        enhanced = clahe(green_channel(image), self.clip_limit, self.kernel_size)
        outside = (image == 0).all(0, keepdim=True)
        return enhanced.masked_fill(outside, 0.0), mask

    def __repr__(self) -> str:
        return f"FundusEnhance(clip_limit={self.clip_limit}, kernel_size={self.kernel_size})"

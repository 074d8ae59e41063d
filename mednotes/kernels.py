"""Classic hand-made kernels: the templates that learned kernels are compared with.

Every kernel is a tensor indexed ``g[u, v]`` as in the book's notation, and meant for
cross-correlation (``mednotes.conv.correlate``): a positive response means the image patch
looks like the kernel. Each builder takes ``device=`` and ``dtype=`` (float32 on the CPU by
default), so a kernel is made where the image lives instead of being copied there.
"""

from __future__ import annotations

import torch

from mednotes._checks import (
    check_choice,
    check_device,
    check_float_dtype,
    check_int,
    check_number,
)

Device = torch.device | str | None


def _place(kernel: torch.Tensor, device: Device, dtype: torch.dtype | None) -> torch.Tensor:
    """The kernel (built in float64 on the CPU) in the asked dtype, then on the asked device.

    Converting before moving keeps float64 off devices that have none (Apple MPS).
    """
    dtype = check_float_dtype("dtype", dtype) or torch.float32
    return kernel.to(dtype).to(check_device("device", device) or "cpu")


def box(size: int = 3, *, device: Device = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Box blur: the mean over a ``size × size`` window.

    Example:
        >>> box(3).sum().item()
        1.0
        >>> box(3, dtype=torch.float64).dtype
        torch.float64
    """
    _check_size(size)
    return _place(torch.full((size, size), 1.0 / size**2, dtype=torch.float64), device, dtype)


def gaussian(size: int = 5, sigma: float = 1.0, dims: int = 2, *, device: Device = None,
             dtype: torch.dtype | None = None) -> torch.Tensor:
    """A normalised Gaussian blur kernel in 1, 2 or 3 dimensions.

    Args:
        size: side length, odd so that the kernel has a centre.
        sigma: standard deviation in pixels.
        dims: number of dimensions (2 for images, 3 for volumes).
        device, dtype: where and in which floating dtype to make it (CPU, float32 by default).

    Example:
        >>> g = gaussian(5, 1.0)
        >>> round(g.sum().item(), 6), bool(g[2, 2] == g.max())
        (1.0, True)
        >>> gaussian(3, 1.0, dims=3).shape
        torch.Size([3, 3, 3])
    """
    _check_size(size)
    sigma = check_number("sigma", sigma, low=0.0, open_low=True)
    dims = check_choice("dims", dims, (1, 2, 3))
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    profile = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = profile
    for _ in range(dims - 1):  # a Gaussian is separable: outer products of 1D profiles
        kernel = kernel[..., None] * profile
    return _place(kernel / kernel.sum(), device, dtype)


def sobel(direction: str = "x", *, device: Device = None,
          dtype: torch.dtype | None = None) -> torch.Tensor:
    """Sobel edge kernel: responds to intensity rising rightwards (``"x"``) or downwards (``"y"``).

    Example:
        >>> sobel("x")
        tensor([[-1.,  0.,  1.],
                [-2.,  0.,  2.],
                [-1.,  0.,  1.]])
    """
    check_choice("direction", direction, ("x", "y"))
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
                          dtype=torch.float64)
    if direction == "y":
        kernel = kernel.T.contiguous()
    return _place(kernel, device, dtype)


def laplacian(*, device: Device = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The 4-neighbour Laplacian: zero on flat and linear ramps, large at spots and corners.

    Example:
        >>> laplacian().sum().item()
        0.0
    """
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],
                          dtype=torch.float64)
    return _place(kernel, device, dtype)


def sharpen(amount: float = 1.0, *, device: Device = None,
            dtype: torch.dtype | None = None) -> torch.Tensor:
    """Unsharp-style sharpening: identity minus ``amount`` times the Laplacian.

    Example:
        >>> sharpen(1.0)
        tensor([[ 0., -1.,  0.],
                [-1.,  5., -1.],
                [ 0., -1.,  0.]])
    """
    amount = check_number("amount", amount)
    identity = torch.zeros(3, 3, dtype=torch.float64)
    identity[1, 1] = 1.0
    return _place(identity - amount * laplacian(dtype=torch.float64), device, dtype)


def named(name: str, *, device: Device = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A kernel by name, one of ``NAMES``.

    Example:
        >>> named("edge (vertical)").shape
        torch.Size([3, 3])
    """
    if not isinstance(name, str) or name not in _BY_NAME:
        raise ValueError(f"unknown kernel {name!r}; names: {', '.join(_BY_NAME)}")
    return _BY_NAME[name](device=device, dtype=dtype)


_BY_NAME = {
    "edge (vertical)": lambda **where: sobel("x", **where),
    "edge (horizontal)": lambda **where: sobel("y", **where),
    "blur (box)": lambda **where: box(3, **where),
    "blur (Gaussian)": lambda **where: gaussian(3, 0.85, **where),
    "sharpen": sharpen,
    "Laplacian": laplacian,
}
NAMES = tuple(_BY_NAME)


def _check_size(size: int) -> None:
    size = check_int("size", size, minimum=1)
    if size % 2 == 0:
        raise ValueError(f"size must be a positive odd number, got {size}")



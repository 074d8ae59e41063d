"""Classic hand-made kernels: the templates that learned kernels are compared with.

Every kernel is a float32 tensor, indexed ``g[u, v]`` as in the book's notation, and meant for
cross-correlation (``mednotes.conv.correlate``): a positive response means the image patch
looks like the kernel.
"""

from __future__ import annotations

import torch


def box(size: int = 3) -> torch.Tensor:
    """Box blur: the mean over a ``size × size`` window.

    Example:
        >>> box(3).sum().item()
        1.0
    """
    _check_size(size)
    return torch.full((size, size), 1.0 / size**2)


def gaussian(size: int = 5, sigma: float = 1.0, dims: int = 2) -> torch.Tensor:
    """A normalised Gaussian blur kernel in 1, 2 or 3 dimensions.

    Args:
        size: side length, odd so that the kernel has a centre.
        sigma: standard deviation in pixels.
        dims: number of dimensions (2 for images, 3 for volumes).

    Example:
        >>> g = gaussian(5, 1.0)
        >>> round(g.sum().item(), 6), bool(g[2, 2] == g.max())
        (1.0, True)
        >>> gaussian(3, 1.0, dims=3).shape
        torch.Size([3, 3, 3])
    """
    _check_size(size)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if dims not in (1, 2, 3):
        raise ValueError(f"dims must be 1, 2 or 3, got {dims}")
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    profile = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = profile
    for _ in range(dims - 1):  # a Gaussian is separable: outer products of 1D profiles
        kernel = kernel[..., None] * profile
    return (kernel / kernel.sum()).float()


def sobel(direction: str = "x") -> torch.Tensor:
    """Sobel edge kernel: responds to intensity rising to the right (``"x"``) or downwards (``"y"``).

    Example:
        >>> sobel("x")
        tensor([[-1.,  0.,  1.],
                [-2.,  0.,  2.],
                [-1.,  0.,  1.]])
    """
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    if direction == "x":
        return kernel
    if direction == "y":
        return kernel.T.contiguous()
    raise ValueError(f"direction must be 'x' or 'y', got {direction!r}")


def laplacian() -> torch.Tensor:
    """The 4-neighbour Laplacian: zero on flat and linear ramps, large at spots and corners.

    Example:
        >>> laplacian().sum().item()
        0.0
    """
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def sharpen(amount: float = 1.0) -> torch.Tensor:
    """Unsharp-style sharpening: identity minus ``amount`` times the Laplacian.

    Example:
        >>> sharpen(1.0)
        tensor([[ 0., -1.,  0.],
                [-1.,  5., -1.],
                [ 0., -1.,  0.]])
    """
    identity = torch.zeros(3, 3)
    identity[1, 1] = 1.0
    return identity - amount * laplacian()


def named(name: str) -> torch.Tensor:
    """A kernel by name, one of ``NAMES``.

    Example:
        >>> named("edge (vertical)").shape
        torch.Size([3, 3])
    """
    if name not in _BY_NAME:
        raise ValueError(f"unknown kernel {name!r}; names: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]()


_BY_NAME = {
    "edge (vertical)": lambda: sobel("x"),
    "edge (horizontal)": lambda: sobel("y"),
    "blur (box)": lambda: box(3),
    "blur (Gaussian)": lambda: gaussian(3, 0.85),
    "sharpen": sharpen,
    "Laplacian": laplacian,
}
NAMES = tuple(_BY_NAME)


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd number, got {size}")



"""Bright squares on noise: the smallest segmentation set, for smoke tests and quick demos.

Nothing medical about it: a network that cannot learn these squares in a few epochs has a bug,
which is what the command line's ``--dataset toy`` and the training tests use it to show.
"""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from mednotes._checks import check_int

#: The smallest side: room for a square of side 2 and some background around it.
MIN_SIZE = 4


def toy_squares(n: int, size: int = 64, seed: int = 0) -> TensorDataset:
    """Bright squares on a noisy background: an easy segmentation set for smoke tests.

    Each image holds one axis-aligned square of side between ``size // 8`` and ``size // 3``
    (at least 2 and 3 pixels), placed at random; the image is the mask (1 inside, 0 outside)
    plus Gaussian noise of standard deviation 0.3. The same ``(n, size, seed)`` gives the
    same data; no global random state is used or changed.

    Args:
        n: number of images, >= 1.
        size: side of each image in pixels, >= 4.
        seed: an int >= 0.

    Returns:
        a TensorDataset of ``(image float32 (1, size, size), mask int64 (size, size))``
        pairs, the mask holding class indices (0 background, 1 square).

    Explained in: Training a segmentation network.

    Example:
        >>> image, mask = toy_squares(2, size=16)[0]
        >>> image.shape, mask.dtype, 0 < int(mask.sum()) < 16 * 16
        (torch.Size([1, 16, 16]), torch.int64, True)
    """
    n = check_int("n", n, 1)
    size = check_int("size", size, MIN_SIZE)
    seed = check_int("seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, size, size, dtype=torch.int64)
    for i in range(n):
        side = int(torch.randint(max(2, size // 8), max(3, size // 3) + 1, (1,), generator=g))
        top, left = torch.randint(0, size - side + 1, (2,), generator=g).tolist()
        masks[i, top:top + side, left:left + side] = 1
    images = masks.float() + 0.3 * torch.randn(n, size, size, generator=g)
    return TensorDataset(images.unsqueeze(1), masks)
